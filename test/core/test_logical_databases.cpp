// Logical databases split across physical ones: which directories a physical
// database gets, what it records, mapping checks, and when a later run is
// refused for putting a logical database in the wrong physical one.
#include <gtest/gtest.h>

#include "errors.h"
#include "logical_databases.h"

using namespace bgupdate;

namespace {

std::vector<SchemaDirectory> synapse_dirs() {
    return {SchemaDirectory{"common", {}, {}}, SchemaDirectory{"main", {}, {}}, SchemaDirectory{"state", {}, {}}};
}

std::vector<std::string> labels(const std::vector<SchemaDirectory>& dirs) {
    std::vector<std::string> out;
    for (auto& d : dirs) out.push_back(d.label);
    return out;
}

std::string mapping_error(const std::vector<std::set<std::string>>& physical) {
    try {
        check_logical_mapping(physical, synapse_dirs());
    } catch (const Error& e) {
        return e.what();
    }
    return "";
}

}  // namespace

TEST(LogicalDatabases, CommonGoesToEveryPhysicalDatabase) {
    auto dirs = synapse_dirs();
    EXPECT_EQ(labels(directories_for(dirs, {"main"})), (std::vector<std::string>{"common", "main"}));
    EXPECT_EQ(labels(directories_for(dirs, {"state"})), (std::vector<std::string>{"common", "state"}));
    EXPECT_EQ(labels(directories_for(dirs, {"common"})), (std::vector<std::string>{"common"}));
    EXPECT_EQ(labels(directories_for(dirs, {"*"})), (std::vector<std::string>{"common", "main", "state"}));
    EXPECT_EQ(logical_databases_of(dirs), (std::set<std::string>{"main", "state"}));
}

TEST(LogicalDatabases, RecordLeavesOutCommonUnlessItIsAll) {
    EXPECT_EQ(logical_record_of({"common", "main"}), (std::set<std::string>{"main"}));
    EXPECT_EQ(logical_record_of({"common"}), (std::set<std::string>{"common"}));
    EXPECT_EQ(logical_record_of({"main", "state"}), (std::set<std::string>{"main", "state"}));
}

TEST(LogicalDatabases, MappingMustPlaceEveryLogicalDatabaseOnce) {
    EXPECT_EQ(mapping_error({{"main"}, {"state"}}), "");
    EXPECT_EQ(mapping_error({{"main", "state"}}), "");
    EXPECT_EQ(mapping_error({{"common"}, {"main"}, {"state"}}), "");
    EXPECT_NE(mapping_error({{"main"}}).find("'state' (schema directory state) has no physical database"),
              std::string::npos);
    EXPECT_NE(mapping_error({{"main"}, {"state"}, {"stat"}}).find("no schema directory for the logical database 'stat'"),
              std::string::npos);
    EXPECT_NE(mapping_error({{"main"}, {"main", "state"}}).find("'main' is given twice"), std::string::npos);
}

TEST(LogicalDatabases, ConflictsWithWhatWasRecorded) {
    std::set<std::string> every{"main", "state"};
    EXPECT_FALSE(logical_database_conflict({}, {"main"}, every));  // nothing recorded yet
    EXPECT_FALSE(logical_database_conflict({"main"}, {"main"}, every));
    auto swapped = logical_database_conflict({"main"}, {"state"}, every);
    ASSERT_TRUE(swapped);
    EXPECT_NE(swapped->find("holds the logical database main"), std::string::npos);
    EXPECT_NE(swapped->find("use it for the logical database state"), std::string::npos);
    // One database for everything: the same as naming every logical database for it.
    EXPECT_FALSE(logical_database_conflict({"*"}, {"main", "state"}, every));
    EXPECT_FALSE(logical_database_conflict({"main", "state"}, {"*"}, every));
    auto moved_out = logical_database_conflict({"*"}, {"main"}, every);
    ASSERT_TRUE(moved_out);
    EXPECT_NE(moved_out->find("holds every logical database"), std::string::npos);
    EXPECT_TRUE(logical_database_conflict({"main"}, {"*"}, every));
    // Without the directories "*" only matches itself.
    EXPECT_FALSE(logical_database_conflict({"*"}, {"*"}, std::nullopt));
    EXPECT_TRUE(logical_database_conflict({"*"}, {"main"}, std::nullopt));
}
