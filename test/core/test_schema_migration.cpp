// plan_migration: snapshot selection, multi-directory ordering, engine
// filtering, .py deltas, compat refusal and advancement, and the placeholder.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "errors.h"
#include "schema_migration.h"

using namespace bgupdate;

namespace {

constexpr auto PG = Dialect::Kind::Postgres;
constexpr auto LITE = Dialect::Kind::Sqlite;

SchemaFile f(const std::string& name) { return {name, "/x/" + name}; }

// Synapse's shape: common and main, snapshots 10 and 20, deltas 11..22.
std::vector<SchemaDirectory> synapse_like() {
    SchemaDirectory common{"common", {}, {}}, main{"main", {}, {}};
    common.snapshots[10] = {f("full.sql.sqlite"), f("full.sql.postgres")};
    common.snapshots[20] = {f("full.sql.sqlite"), f("full.sql.postgres")};
    main.snapshots[10] = {f("full.sql.sqlite"), f("full.sql.postgres")};
    main.snapshots[20] = {f("full.sql.sqlite"), f("full.sql.postgres"), f("README.md")};
    main.deltas[15] = {f("01_old.sql")};
    main.deltas[21] = {f("03_c.sql"), f("01_a.sql.postgres"), f("02_b.py")};
    common.deltas[21] = {f("02_a.sql"), f("01_z.sql.sqlite")};
    main.deltas[22] = {f("01_d.sql")};
    return {common, main};
}

std::vector<std::string> describe(const MigrationPlan& p) {
    std::vector<std::string> out;
    for (auto& s : p.steps) {
        std::string d = std::string(step_kind_name(s.kind)) + " " + std::to_string(s.version);
        if (!s.file.empty()) d += " " + s.directory + ":" + s.file;
        if (s.kind == StepKind::SetVersion) d += " compat " + std::to_string(s.compat_version);
        out.push_back(d);
    }
    return out;
}

std::string plan_error(const std::vector<SchemaDirectory>& dirs, const SchemaState& st, const MigrationOptions& o) {
    try {
        plan_migration(dirs, st, o);
    } catch (const Error& e) {
        EXPECT_EQ(e.kind(), ErrorKind::BadInput);
        return e.what();
    }
    return "";
}

}  // namespace

TEST(SchemaMigration, EmptyDatabaseTakesNewestSnapshotAtOrBelowTarget) {
    MigrationOptions o;
    o.engine = LITE;
    o.target_version = 21;
    auto plan = plan_migration(synapse_like(), {}, o);
    ASSERT_TRUE(plan.snapshot_version);
    EXPECT_EQ(*plan.snapshot_version, 20);
    EXPECT_EQ(describe(plan), (std::vector<std::string>{
                                  "snapshot 20 common:full.sql.sqlite",
                                  "snapshot 20 main:full.sql.sqlite",
                                  "set_version 21 compat 20",
                                  "other_engine 21 main:21/01_a.sql.postgres",
                                  "delta 21 common:21/01_z.sql.sqlite",
                                  "delta 21 common:21/02_a.sql",
                                  "skip_python 21 main:21/02_b.py",
                                  "delta 21 main:21/03_c.sql",
                              }));
    o.target_version = 19;
    EXPECT_EQ(*plan_migration(synapse_like(), {}, o).snapshot_version, 10);
    o.target_version = 9;
    EXPECT_NE(plan_error(synapse_like(), {}, o).find("no full schema snapshot at or below version 9"), std::string::npos);
}

TEST(SchemaMigration, DeltasSortAcrossDirectoriesByFileNameAndFilterByEngine) {
    MigrationOptions o;
    o.engine = PG;
    SchemaState st;
    st.version = 20;
    st.upgraded = false;  // reached by the snapshot: 20's deltas are not due
    st.compat_version = 20;
    auto plan = plan_migration(synapse_like(), st, o);
    EXPECT_EQ(plan.target_version, 22);
    EXPECT_EQ(describe(plan), (std::vector<std::string>{
                                  "set_version 21 compat 20",
                                  "delta 21 main:21/01_a.sql.postgres",
                                  "other_engine 21 common:21/01_z.sql.sqlite",
                                  "delta 21 common:21/02_a.sql",
                                  "skip_python 21 main:21/02_b.py",
                                  "delta 21 main:21/03_c.sql",
                                  "set_version 22 compat 20",
                                  "delta 22 main:22/01_d.sql",
                              }));
}

TEST(SchemaMigration, AppliedAndSkippedFilesAreNotDueAgain) {
    MigrationOptions o;
    o.engine = PG;
    SchemaState st;
    st.version = 21;
    st.upgraded = true;
    st.compat_version = 20;
    st.applied = {"21/01_a.sql.postgres", "21/02_a.sql"};
    st.skipped = {"21/02_b.py"};
    auto plan = plan_migration(synapse_like(), st, o);
    // 21's file for the other engine was listed by the run that reached 21.
    EXPECT_EQ(describe(plan), (std::vector<std::string>{
                                  "delta 21 main:21/03_c.sql",
                                  "set_version 22 compat 20",
                                  "delta 22 main:22/01_d.sql",
                              }));
    st.version = 22;
    st.applied.insert({"21/03_c.sql", "22/01_d.sql"});
    plan = plan_migration(synapse_like(), st, o);
    EXPECT_FALSE(plan.changes_anything());
}

TEST(SchemaMigration, OtherEngineFilesAreCountedByTheRunThatPassesTheirVersion) {
    // examples/gradual_not_null: 102 and 103 each have a file per engine; a
    // run from 102 to 103 reports 103's other file only, not 102's again.
    SchemaDirectory d{"gradual_not_null", {}, {}};
    d.deltas[102] = {f("01_backfill.sql.postgres"), f("01_backfill.sql.sqlite")};
    d.deltas[103] = {f("01_enforce.sql.postgres"), f("01_enforce.sql.sqlite")};
    MigrationOptions o;
    o.engine = LITE;
    o.target_version = 103;
    SchemaState st;
    st.version = 102;
    st.upgraded = true;
    st.compat_version = 101;
    st.applied = {"102/01_backfill.sql.sqlite"};
    EXPECT_EQ(describe(plan_migration({d}, st, o)), (std::vector<std::string>{
                                                        "set_version 103 compat 101",
                                                        "other_engine 103 gradual_not_null:103/01_enforce.sql.postgres",
                                                        "delta 103 gradual_not_null:103/01_enforce.sql.sqlite",
                                                    }));
}

TEST(SchemaMigration, StopOnPython) {
    MigrationOptions o;
    o.engine = LITE;
    o.stop_on_python = true;
    SchemaState st;
    st.version = 20;
    st.compat_version = 20;
    auto steps = describe(plan_migration(synapse_like(), st, o));
    EXPECT_NE(std::find(steps.begin(), steps.end(), "stop_python 21 main:21/02_b.py"), steps.end());
}

TEST(SchemaMigration, CompatVersionAdvancesButNeverPastTheVersionReached) {
    MigrationOptions o;
    o.engine = LITE;
    o.compat_version = 22;
    SchemaState st;
    st.version = 20;
    st.compat_version = 20;
    auto plan = plan_migration(synapse_like(), st, o);
    EXPECT_EQ(plan.compat_version, 22);
    auto steps = describe(plan);
    EXPECT_EQ(steps[0], "set_version 21 compat 21");
    EXPECT_EQ(steps.back(), "delta 22 main:22/01_d.sql");
    EXPECT_NE(std::find(steps.begin(), steps.end(), "set_version 22 compat 22"), steps.end());
    // Only the compat version is due: one step at the current version.
    st.version = 22;
    st.upgraded = true;
    st.applied = {"21/01_z.sql.sqlite", "21/02_a.sql", "21/03_c.sql", "22/01_d.sql"};
    st.skipped = {"21/02_b.py"};
    EXPECT_EQ(describe(plan_migration(synapse_like(), st, o)), (std::vector<std::string>{"set_version 22 compat 22"}));
    o.compat_version = 23;
    EXPECT_NE(plan_error(synapse_like(), st, o).find("must not be newer than the target"), std::string::npos);
}

TEST(SchemaMigration, OldCodeOnNewerSchemaIsRefused) {
    MigrationOptions o;
    o.engine = PG;
    o.target_version = 21;
    SchemaState st;
    st.version = 22;
    st.upgraded = true;
    st.compat_version = 22;
    std::string e = plan_error(synapse_like(), st, o);
    EXPECT_NE(e.find("needs code of version 22 or newer, but this code is version 21"), std::string::npos) << e;
    EXPECT_NE(e.find("nothing was changed"), std::string::npos);
    EXPECT_TRUE(schema_incompatibility(st, 21));
    EXPECT_FALSE(schema_incompatibility(st, 22));
    // Newer schema, but compatible: nothing to do, and said so.
    st.compat_version = 20;
    auto plan = plan_migration(synapse_like(), st, o);
    EXPECT_FALSE(plan.changes_anything());
    ASSERT_EQ(plan.warnings.size(), 1u);
    EXPECT_NE(plan.warnings[0].find("newer than the target 21"), std::string::npos);
}

TEST(SchemaMigration, DirectoriesWithoutSnapshotsStartAtTheirFirstVersion) {
    SchemaDirectory d{"example", {}, {}};
    d.deltas[1] = {f("01_create.sql")};
    d.deltas[2] = {f("01_add.sql"), f("notes.txt"), f("weird.bin")};
    MigrationOptions o;
    auto plan = plan_migration({d}, {}, o);
    EXPECT_FALSE(plan.snapshot_version);
    EXPECT_EQ(describe(plan), (std::vector<std::string>{"set_version 1 compat 1", "delta 1 example:1/01_create.sql",
                                                        "set_version 2 compat 1", "delta 2 example:2/01_add.sql"}));
    ASSERT_EQ(plan.warnings.size(), 1u);
    EXPECT_NE(plan.warnings[0].find("weird.bin"), std::string::npos);
}

TEST(SchemaMigration, DuplicateDeltaNamesAcrossDirectoriesAreRefused) {
    SchemaDirectory a{"a", {}, {}}, b{"b", {}, {}};
    a.deltas[1] = {f("01_x.sql")};
    b.deltas[1] = {f("01_x.sql")};
    EXPECT_NE(plan_error({a, b}, {}, {}).find("two schema directories have a delta named '01_x.sql' for version 1"),
              std::string::npos);
    EXPECT_NE(plan_error({}, {}, {}).find("no schema files found"), std::string::npos);
}

TEST(SchemaMigration, ClassifiesFiles) {
    EXPECT_EQ(classify_schema_file("a.sql", PG), DeltaFileKind::Sql);
    EXPECT_EQ(classify_schema_file("a.sql.postgres", PG), DeltaFileKind::Sql);
    EXPECT_EQ(classify_schema_file("a.sql.sqlite", PG), DeltaFileKind::OtherEngine);
    EXPECT_EQ(classify_schema_file("a.sql.sqlite", LITE), DeltaFileKind::Sql);
    EXPECT_EQ(classify_schema_file("a.py", LITE), DeltaFileKind::Python);
    EXPECT_EQ(classify_schema_file("a.pyc", LITE), DeltaFileKind::Ignored);
    EXPECT_EQ(classify_schema_file("__pycache__", LITE), DeltaFileKind::Ignored);
    EXPECT_EQ(classify_schema_file("a.sql~", LITE), DeltaFileKind::Unknown);
}

TEST(SchemaMigration, AutoIncrementPlaceholderPerEngine) {
    std::string sql = "CREATE TABLE t (id $%AUTO_INCREMENT_PRIMARY_KEY%$, b INT); CREATE TABLE u (k $%AUTO_INCREMENT_PRIMARY_KEY%$)";
    EXPECT_EQ(substitute_schema_placeholders(sql, LITE),
              "CREATE TABLE t (id INTEGER PRIMARY KEY AUTOINCREMENT, b INT); CREATE TABLE u (k INTEGER PRIMARY KEY AUTOINCREMENT)");
    EXPECT_EQ(substitute_schema_placeholders(sql, PG),
              "CREATE TABLE t (id BIGINT PRIMARY KEY GENERATED ALWAYS AS IDENTITY, b INT); "
              "CREATE TABLE u (k BIGINT PRIMARY KEY GENERATED ALWAYS AS IDENTITY)");
    EXPECT_EQ(substitute_schema_placeholders("no placeholder $%X%$", PG), "no placeholder $%X%$");
}

TEST(SchemaMigration, NewestVersionOfAllDirectories) {
    // A split application's state database reaches main's newest version too.
    EXPECT_EQ(newest_schema_version(synapse_like()), 22);
    SchemaDirectory state{"state", {}, {}};
    state.snapshots[10] = {f("full.sql")};
    EXPECT_EQ(newest_schema_version({state}), 10);
    EXPECT_EQ(newest_schema_version({}), 0);
}
