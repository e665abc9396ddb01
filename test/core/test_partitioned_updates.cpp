// Key-range updates on a partitioned table, with the in-memory engine
// faking a partition tree over plain tables (SQLite has none of its own):
// the first batch lists the partitions, then each batch works on one
// partition claimed apart (side by side with other runners), a partition
// attached meanwhile is covered, one detached or dropped is reported, and
// every row is updated exactly once.
#include <gtest/gtest.h>

#include "api.h"
#include "handlers/partitioned_index.h"
#include "json.h"
#include "memory_engine.h"
#include "store.h"
#include "work_units.h"

using bgupdate::Api;
using bgupdate::Json;
using bgupdate::PartitionNode;
using bgupdate::Registration;
using bgupdate::WorkUnit;
using bgupdate_test::MemoryEngine;

namespace {

PartitionNode node(const std::string& name, bool leaf) {
    PartitionNode n;
    n.schema = "main";
    n.name = name;
    n.leaf = leaf;
    n.level = leaf ? 1 : 0;
    if (leaf) {
        n.parent_schema = "main";
        n.parent = "m";
    }
    return n;
}

class PartitionedTest : public ::testing::Test {
protected:
    void SetUp() override {
        api.ensure_schema();
        // "m" is what registration checks; its rows live in m_p1 .. m_p3.
        engine.exec("CREATE TABLE m(id INTEGER PRIMARY KEY, b INT NOT NULL)");
        for (auto* p : {"m_p1", "m_p2", "m_p3"}) engine.exec(std::string("CREATE TABLE ") + p + "(id INTEGER PRIMARY KEY, b INT NOT NULL)");
        fill("m_p1", 1, 30);
        fill("m_p2", 101, 130);
        fill("m_p3", 201, 210);
        engine.partitions["m"] = {node("m", false), node("m_p1", true), node("m_p2", true)};
        api.config("default_batch_size", "10");
        api.config("max_batch_size", "10");
        api.config("sleep_enabled", "false");
    }
    void fill(const std::string& t, int from, int to) {
        engine.exec("WITH RECURSIVE n(i) AS (SELECT " + std::to_string(from) + " UNION ALL SELECT i + 1 FROM n WHERE i < " +
                    std::to_string(to) + ") INSERT INTO " + t + " SELECT i, 0 FROM n");
    }
    Json step() { return Json::parse(api.step().to_json(), "step"); }
    Json progress(const std::string& name) {
        auto row = bgupdate::Store(engine).queue_row(name);
        return row ? Json::parse(row->progress_json, "progress") : Json();
    }
    int64_t count(const std::string& sql) { return engine.query(sql)[0][0].as_int(); }

    MemoryEngine engine;
    Api api{engine};
};

TEST(WorkUnits, OneUnitUnlessTheProgressListsPartitions) {
    Registration reg;
    reg.update_name = "u";
    reg.kind = bgupdate::HandlerKind::BatchedUpdate;
    reg.spec_json = R"({"table":"public.m"})";
    auto whole = bgupdate::work_units(reg, R"({"lower_bound":[3]})");
    ASSERT_EQ(whole.size(), 1u);
    EXPECT_EQ(whole[0].partition, "");
    EXPECT_EQ(whole[0].table, std::optional<std::string>("m"));
    auto units = bgupdate::work_units(
        reg, R"({"partitions":{"public.m1":{"done":true},"public.m2":{"lower_bound":[5]},"public.m3":{},"public.m4":{"gone":"dropped"}}})");
    ASSERT_EQ(units.size(), 2u);  // finished and gone partitions are not claimed again
    EXPECT_EQ(units[0].partition, "public.m2");
    EXPECT_EQ(units[0].table, std::optional<std::string>("m2"));
    EXPECT_EQ(units[0].parent, std::optional<std::string>("m"));
    EXPECT_EQ(units[1].partition, "public.m3");
    // Every partition finished: the update as a whole (its batch moves on).
    EXPECT_EQ(bgupdate::work_units(reg, R"({"partitions":{"public.m1":{"done":true}}})")[0].partition, "");
    // validate-and-delete: partitions while checking, the table as a whole to validate.
    reg.kind = bgupdate::HandlerKind::ValidateConstraintAndDeleteRows;
    EXPECT_EQ(bgupdate::work_units(reg, R"({"state":"check","partitions":{"public.m1":{}}})").size(), 1u);
    EXPECT_EQ(bgupdate::work_units(reg, R"({"state":"check","partitions":{"public.m1":{}}})")[0].partition, "public.m1");
    EXPECT_EQ(bgupdate::work_units(reg, R"({"state":"validate","partitions":{"public.m1":{}}})")[0].partition, "");
    // Other kinds are always one unit.
    reg.kind = bgupdate::HandlerKind::Index;
    EXPECT_EQ(bgupdate::work_units(reg, R"({"partitions":{"public.m1":"built"}})")[0].partition, "");
}

TEST(WorkUnits, ClaimKeysNameTheUpdateAndThePartition) {
    WorkUnit whole, part{"public.m2", std::string("m2"), std::string("m")};
    EXPECT_EQ(bgupdate::claim_key("u", whole), "u");
    std::string key = bgupdate::claim_key("u", part);
    EXPECT_NE(key, "u");
    EXPECT_EQ(bgupdate::update_of_claim_key(key), "u");
    EXPECT_EQ(bgupdate::update_of_claim_key("u"), "u");
    EXPECT_EQ(bgupdate::describe_claim_key(key), "u (partition public.m2)");
}

TEST(PartitionIndexName, ShortenedToPostgresLimitWithAHash) {
    EXPECT_EQ(bgupdate::partition_index_name("m_a_idx", "m_p1"), "m_a_idx_m_p1");
    std::string a = bgupdate::partition_index_name(std::string(40, 'i'), std::string(40, 'p') + "1");
    std::string b = bgupdate::partition_index_name(std::string(40, 'i'), std::string(40, 'p') + "2");
    EXPECT_EQ(a.size(), 63u);
    EXPECT_NE(a, b);  // the hash keeps partitions whose names differ only at the end apart
    // A multi-byte character is never cut in two.
    std::string u = bgupdate::partition_index_name(std::string(50, 'i'), std::string(5, 'x') + "\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9");
    EXPECT_LE(u.size(), 63u);
    for (size_t i = 0; i + 9 < u.size(); ++i) ASSERT_FALSE((static_cast<unsigned char>(u[i]) & 0xC0) == 0xC0 &&
                                                           (static_cast<unsigned char>(u[i + 1]) & 0xC0) != 0x80);
}

TEST_F(PartitionedTest, FirstBatchListsPartitionsThenEachBatchWorksOnOne) {
    api.register_batched_update({"bump", "m", {"id"}, "b = b + 1", std::nullopt, {}});
    api.enqueue("bump", 0, std::nullopt, "{}");
    Json first = step();
    EXPECT_EQ(first.at("items").as_integer(), 0);
    Json p = progress("bump");
    EXPECT_EQ(p.at("partitions").keys(), (std::vector<std::string>{"main.m_p1", "main.m_p2"}));
    EXPECT_EQ(count("SELECT count(*) FROM m_p1 WHERE b <> 0"), 0);

    // Another runner holds m_p1: this one takes m_p2, claimed as a partition of m.
    engine.claimed_elsewhere.insert(bgupdate::claim_key("bump", WorkUnit{"main.m_p1", std::string("m_p1"), std::string("m")}));
    Json second = step();
    EXPECT_EQ(second.at("items").as_integer(), 10);
    EXPECT_EQ(second.at("update_name").as_string(), std::optional<std::string>("bump"));
    ASSERT_FALSE(engine.partition_claims.empty());
    EXPECT_EQ(engine.partition_claims.back(), std::make_pair(std::string("m"), std::string("m_p2")));
    p = progress("bump");
    EXPECT_TRUE(p.at("partitions").at("main.m_p1").keys().empty());
    EXPECT_EQ(p.at("partitions").at("main.m_p2").at("lower_bound").dump(), "[110]");
    EXPECT_EQ(count("SELECT count(*) FROM m_p2 WHERE b = 1"), 10);
    EXPECT_EQ(count("SELECT count(*) FROM m_p1 WHERE b <> 0"), 0);

    // Two partitions left: a runner that could not claim one asks for a helper.
    bgupdate::RunScope scope;
    bgupdate::RunSummary summary = api.run(0, scope);
    EXPECT_EQ(summary.parallel_width, 2) << summary.to_json();
    engine.claimed_elsewhere.clear();
}

TEST_F(PartitionedTest, AttachedPartitionIsCoveredAndEveryRowChangesOnce) {
    api.register_batched_update({"bump", "m", {"id"}, "b = b + 1", std::nullopt, {}});
    api.enqueue("bump", 0, std::nullopt, "{}");
    step();  // the list: m_p1, m_p2
    step();
    engine.partitions["m"].push_back(node("m_p3", true));  // attached while the update runs
    api.finish("bump");
    EXPECT_TRUE(api.has_completed("bump"));
    for (auto* t : {"m_p1", "m_p2", "m_p3"})
        EXPECT_EQ(count(std::string("SELECT count(*) FROM ") + t + " WHERE b <> 1"), 0) << t;
    auto hist = engine.query("SELECT detail FROM bgupdate_history WHERE event = 'batch' ORDER BY id DESC LIMIT 2");
    // The batch that finished the listed partitions added the new one.
    EXPECT_NE(hist[1][0].as_text().find("\"main.m_p3\":{\"attached_during_run\":true}"), std::string::npos)
        << hist[1][0].as_text();
    EXPECT_EQ(api.status()[0].items_done, 70);
}

TEST_F(PartitionedTest, DetachedAndDroppedPartitionsAreReportedAndSkipped) {
    api.register_batched_update({"bump", "m", {"id"}, "b = b + 1", std::nullopt, {}});
    engine.partitions["m"].push_back(node("m_p3", true));
    api.enqueue("bump", 0, std::nullopt, "{}");
    step();  // the list: m_p1, m_p2, m_p3
    // m_p2 detached (the table stays), m_p3 dropped.
    engine.partitions["m"] = {node("m", false), node("m_p1", true)};
    engine.exec("DROP TABLE m_p3");
    std::string seen;  // every progress the update went through
    for (int i = 0; i < 20 && !api.has_completed("bump"); ++i) {
        step();
        seen += progress("bump").dump();
    }
    EXPECT_TRUE(api.has_completed("bump"));
    EXPECT_EQ(count("SELECT count(*) FROM m_p1 WHERE b <> 1"), 0);
    EXPECT_EQ(count("SELECT count(*) FROM m_p2 WHERE b <> 0"), 0);  // no longer the table's: left alone
    EXPECT_NE(seen.find("\"main.m_p2\":{\"gone\":\"detached from m while the update ran"), std::string::npos) << seen;
    EXPECT_NE(seen.find("\"main.m_p3\":{\"gone\":\"dropped while the update ran\"}"), std::string::npos) << seen;
    EXPECT_EQ(count("SELECT count(*) FROM bgupdate_history WHERE event = 'complete' AND update_name = 'bump'"), 1);
}

TEST_F(PartitionedTest, TableNoLongerPartitionedFailsClearly) {
    api.register_batched_update({"bump", "m", {"id"}, "b = b + 1", std::nullopt, {}});
    api.enqueue("bump", 0, std::nullopt, "{}");
    step();
    engine.partitions.erase("m");
    Json out = step();
    ASSERT_TRUE(out.at("error").is_string()) << out.dump();
    EXPECT_NE(out.at("error").as_string()->find("is no longer a partitioned table"), std::string::npos);
}

TEST_F(PartitionedTest, ValidateAndDeleteChecksEachPartitionThenValidates) {
    engine.exec("UPDATE m_p1 SET b = -1 WHERE id % 7 = 0");
    engine.exec("UPDATE m_p2 SET b = -1 WHERE id % 9 = 0");
    // The constraint as a foreign key would be on SQLite: rows whose b has no match in ok_b are deleted.
    engine.exec("CREATE TABLE ok_b(v INTEGER PRIMARY KEY)");
    engine.exec("INSERT INTO ok_b VALUES (0)");
    api.register_validate_constraint_and_delete_rows(
        "clean", "m", "m_b_fk", R"({"foreign_key":{"referenced_table":"ok_b","columns":[["b","v"]]}})", {"id"});
    api.enqueue("clean", 0, std::nullopt, R"({"state":"check"})");
    step();
    EXPECT_EQ(progress("clean").at("partitions").keys().size(), 2u);
    api.finish("clean");
    EXPECT_TRUE(api.has_completed("clean"));
    EXPECT_EQ(count("SELECT count(*) FROM m_p1 WHERE b = -1") + count("SELECT count(*) FROM m_p2 WHERE b = -1"), 0);
    EXPECT_EQ(count("SELECT count(*) FROM m_p1"), 30 - 4);
    EXPECT_EQ(count("SELECT count(*) FROM m_p2"), 30 - 3);
}

}  // namespace
