// The store's versions (common/store_schema.h) and how an SQLite file is
// brought to the latest one (common/store_upgrade.h), on an in-memory
// SQLite engine: a new file, each earlier version, a file from before store
// versions, a file from a newer build, a step that fails; and the names the
// rest of the core uses, checked against the latest layout.
#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <set>
#include <sstream>
#include <tuple>

#include "api.h"
#include "memory_engine.h"
#include "store.h"
#include "store_schema.h"

using bgupdate::Dialect;
using bgupdate::OwnTable;
using bgupdate_test::MemoryEngine;

namespace {

const Dialect kSqlite(Dialect::Kind::Sqlite);
const Dialect kPostgres(Dialect::Kind::Postgres);

std::set<std::string> layout_tables(const Dialect& d) {
    std::set<std::string> out;
    for (auto& t : bgupdate::latest_store_layout(d)) out.insert(t.name);
    return out;
}

std::vector<std::string> layout_columns(const Dialect& d, const std::string& table) {
    for (auto& t : bgupdate::latest_store_layout(d))
        if (t.name == table) {
            std::vector<std::string> out;
            for (auto& c : t.columns) out.push_back(c.name);
            return out;
        }
    return {};
}

std::string unqualified(const std::string& name) {
    auto dot = name.find('.');
    return dot == std::string::npos ? name : name.substr(dot + 1);
}

TEST(StoreSchema, VersionsAreNumberedOneByOne) {
    int n = 0;
    for (auto& v : bgupdate::store_versions()) {
        EXPECT_EQ(v.number, ++n);
        EXPECT_FALSE(v.steps.empty()) << "version " << v.number;
    }
    EXPECT_EQ(bgupdate::latest_store_version(), n);
}

TEST(StoreSchema, EveryOwnTableIsInTheLatestLayout) {
    for (auto* d : {&kSqlite, &kPostgres})
        for (auto t : {OwnTable::Queue, OwnTable::Registry, OwnTable::State, OwnTable::History, OwnTable::Config,
                       OwnTable::SchemaVersion, OwnTable::SchemaCompat, OwnTable::AppliedDeltas})
            EXPECT_TRUE(layout_tables(*d).count(unqualified(d->own(t)))) << d->own(t);
}

TEST(StoreSchema, EveryColumnTheStoreReadsIsInTheLatestLayout) {
    for (auto* d : {&kSqlite, &kPostgres})
        for (auto& [table, columns] : bgupdate::columns_the_store_reads()) {
            auto have = layout_columns(*d, unqualified(d->own(table)));
            for (auto& c : columns)
                EXPECT_NE(std::find(have.begin(), have.end(), c), have.end())
                    << d->own(table) << "." << c << " is read by the store but not in store_schema.cpp";
        }
}

// ---- SQLite files ----

// The layout of store version `upto` as its steps create it, with one
// queued update; with a version row unless `stamped` is false (a file from
// before store versions).
void make_layout(MemoryEngine& e, int upto, bool stamped) {
    for (auto& v : bgupdate::store_versions()) {
        if (v.number > upto) break;
        for (auto& s : v.steps) {
            auto sql = bgupdate::render_store_step(kSqlite, s, false);
            if (!sql.empty()) e.exec(sql);
        }
    }
    if (stamped) e.exec("INSERT INTO bgupdate_store_version (version) VALUES (" + std::to_string(upto) + ")");
    else e.exec("DROP TABLE bgupdate_store_version");
    e.exec("INSERT INTO background_updates (update_name, progress_json, ordering) VALUES"
           " ('queued', '{\"lower_bound\": [40]}', 3)");
}

class StoreUpgrade : public ::testing::Test {
protected:
    MemoryEngine engine;
    bgupdate::Api api{engine};

    std::string one(const std::string& sql) { return engine.query(sql).at(0).at(0).as_text(); }
    int64_t version() { return engine.query("SELECT version FROM bgupdate_store_version").at(0).at(0).as_int(); }
    // Everything the file holds, as SQLite keeps it.
    std::string objects() {
        std::string out;
        for (auto& r : engine.query("SELECT type, name, sql FROM sqlite_master ORDER BY type, name"))
            out += r[0].as_text() + " " + r[1].as_text() + ": " + r[2].as_text() + "\n";
        return out;
    }
    std::vector<std::string> columns_of(const std::string& table) {
        std::vector<std::string> out;
        for (auto& r : engine.query("SELECT name FROM pragma_table_info('" + table + "') ORDER BY cid"))
            out.push_back(r[0].as_text());
        return out;
    }
    void make_layout(int upto, bool stamped) { ::make_layout(engine, upto, stamped); }
    void expect_latest_layout() {
        EXPECT_EQ(version(), bgupdate::latest_store_version());
        for (auto& t : bgupdate::latest_store_layout(kSqlite)) {
            std::vector<std::string> want;
            for (auto& c : t.columns) want.push_back(c.name);
            EXPECT_EQ(columns_of(t.name), want) << t.name;
        }
        for (auto& trigger : bgupdate::latest_store_triggers(kSqlite))
            EXPECT_EQ(one("SELECT count(*) FROM sqlite_master WHERE type = 'trigger' AND name = '" + trigger + "'"), "1");
    }
};

TEST_F(StoreUpgrade, ANewFileGetsTheLatestLayout) {
    api.ensure_schema();
    expect_latest_layout();
    std::string before = objects();
    api.ensure_schema();
    EXPECT_EQ(objects(), before);
}

TEST_F(StoreUpgrade, AnApplicationsOwnQueueTableIsKept) {
    // Synapse made its queue first (without bgupdate's triggers).
    engine.exec("CREATE TABLE background_updates (update_name TEXT NOT NULL, progress_json TEXT NOT NULL,"
                " depends_on TEXT, ordering INT NOT NULL DEFAULT 0, CONSTRAINT background_updates_uniqueness"
                " UNIQUE (update_name))");
    engine.exec("INSERT INTO background_updates (update_name, progress_json) VALUES ('synapse_one', '{}')");
    api.ensure_schema();
    expect_latest_layout();
    EXPECT_EQ(one("SELECT progress_json FROM background_updates WHERE update_name = 'synapse_one'"), "{}");
}

class EachEarlierVersion : public StoreUpgrade, public ::testing::WithParamInterface<std::tuple<int, bool>> {};

TEST_P(EachEarlierVersion, IsUpgradedInPlace) {
    auto [v, stamped] = GetParam();
    make_layout(v, stamped);
    api.ensure_schema();
    expect_latest_layout();
    EXPECT_EQ(one("SELECT progress_json FROM background_updates WHERE update_name = 'queued'"), "{\"lower_bound\": [40]}");
    EXPECT_EQ(one("SELECT ordering FROM background_updates WHERE update_name = 'queued'"), "3");
}

std::vector<std::tuple<int, bool>> earlier_versions() {
    std::vector<std::tuple<int, bool>> out;
    for (int v = 1; v <= bgupdate::latest_store_version(); ++v) {
        if (v < bgupdate::latest_store_version()) out.emplace_back(v, true);
        out.emplace_back(v, false);  // the same layout, made before store versions
    }
    return out;
}

INSTANTIATE_TEST_SUITE_P(StoreVersions, EachEarlierVersion, ::testing::ValuesIn(earlier_versions()),
                         [](const auto& info) {
                             return "version_" + std::to_string(std::get<0>(info.param)) +
                                    (std::get<1>(info.param) ? "" : "_before_store_versions");
                         });

TEST_F(StoreUpgrade, AFileFromANewerBuildIsRefusedAndLeftAlone) {
    make_layout(bgupdate::latest_store_version(), true);
    const int newer = bgupdate::latest_store_version() + 1;
    engine.exec("UPDATE bgupdate_store_version SET version = " + std::to_string(newer));
    engine.exec("DROP TRIGGER bgupdate_queue_ordering_insert");  // would be put back by an up-to-date build
    std::string before = objects();
    try {
        api.ensure_schema();
        FAIL() << "a newer store version was accepted";
    } catch (const bgupdate::Error& e) {
        std::string m = e.what();
        EXPECT_NE(m.find("store version " + std::to_string(newer)), std::string::npos) << m;
        EXPECT_NE(m.find("this build's " + std::to_string(bgupdate::latest_store_version())), std::string::npos) << m;
    }
    EXPECT_EQ(objects(), before);
    EXPECT_EQ(version(), newer);
}

TEST_F(StoreUpgrade, AFailingStepUndoesTheWholeUpgrade) {
    make_layout(1, true);
    // The application has its own object under the name a later version needs.
    engine.exec("CREATE VIEW bgupdate_logical_databases AS SELECT 'main' AS name");
    std::string before = objects();
    try {
        api.ensure_schema();
        FAIL() << "the upgrade went through an object in its way";
    } catch (const bgupdate::Error& e) {
        std::string m = e.what();
        EXPECT_NE(m.find("from store version 1 to version " + std::to_string(bgupdate::latest_store_version())),
                  std::string::npos) << m;
        EXPECT_NE(m.find("step 'create table bgupdate_logical_databases'"), std::string::npos) << m;
        EXPECT_NE(m.find("already exists"), std::string::npos) << m;
    }
    EXPECT_EQ(objects(), before) << "steps before the failing one were kept";
    EXPECT_EQ(version(), 1);
    EXPECT_EQ(one("SELECT progress_json FROM background_updates"), "{\"lower_bound\": [40]}");
}

TEST_F(StoreUpgrade, MissingObjectsOfTheLatestVersionAreMadeAgain) {
    api.ensure_schema();
    // A schema snapshot replaced the queue with its own table (no triggers).
    engine.exec("DROP TABLE background_updates");
    engine.exec("CREATE TABLE background_updates (update_name TEXT NOT NULL, progress_json TEXT NOT NULL,"
                " depends_on TEXT, ordering INT NOT NULL DEFAULT 0)");
    api.ensure_schema();
    expect_latest_layout();
}

// ---- PostgreSQL: the layout the pgTAP suite compares the installed extension with ----

std::string postgres_layout_file_text() {
    return "-- The latest store layout on PostgreSQL, rendered from common/store_schema.cpp\n"
           "-- (postgres_layout_values): test/pg/pgtap/09_store_layout.sql compares schema\n"
           "-- bgupdate after CREATE EXTENSION with it. Written by test/core (test_store_schema.cpp)\n"
           "-- when BGUPDATE_WRITE_STORE_LAYOUT=1; do not edit by hand.\n"
           "CREATE TEMP TABLE expected_store_layout (table_name text, column_name text, data_type text,"
           " not_null boolean);\n"
           "INSERT INTO expected_store_layout VALUES\n" +
           bgupdate::postgres_layout_values() + ";\n";
}

TEST(StoreSchema, ThePostgresLayoutFileIsTheLatestLayout) {
    const std::string path = std::string(BGUPDATE_SOURCE_ROOT) + "/test/pg/store_layout_postgres.sql";
    const std::string want = postgres_layout_file_text();
    if (const char* w = std::getenv("BGUPDATE_WRITE_STORE_LAYOUT"); w && std::string(w) == "1") {
        std::ofstream(path) << want;
    }
    std::ifstream in(path);
    ASSERT_TRUE(in) << "cannot read " << path;
    std::stringstream have;
    have << in.rdbuf();
    // Name the lines that differ, not the whole file.
    auto lines = [](const std::string& text) {
        std::set<std::string> out;
        std::stringstream ss(text);
        for (std::string line; std::getline(ss, line);) out.insert(line.substr(0, line.find_last_not_of(",;") + 1));
        return out;
    };
    std::set<std::string> in_file = lines(have.str()), rendered = lines(want);
    std::string only_file, only_rendered;
    for (auto& l : in_file)
        if (!rendered.count(l)) only_file += "\n  " + l;
    for (auto& l : rendered)
        if (!in_file.count(l)) only_rendered += "\n  " + l;
    EXPECT_TRUE(have.str() == want) << path << " is not the store layout of common/store_schema.cpp."
                                << "\nOnly in the file:" << only_file << "\nOnly in store_schema.cpp:" << only_rendered
                                << "\nIf the change is meant, run test/core/run.sh with BGUPDATE_WRITE_STORE_LAYOUT=1 "
                                   "and change the PostgreSQL scripts to match (test/pg/pgtap/09_store_layout.sql).";
}

}  // namespace
