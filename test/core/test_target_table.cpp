// target_relation / parallel_width: what the scheduler knows about the table
// of each update, so that runners side by side never share a table.
#include <gtest/gtest.h>

#include "target_table.h"

using namespace bgupdate;

namespace {
Registration reg(HandlerKind kind, const std::string& spec) {
    Registration r;
    r.update_name = "u";
    r.kind = kind;
    r.spec_json = spec;
    return r;
}
}  // namespace

TEST(TargetTable, DeclarativeHandlersNameTheirTable) {
    EXPECT_EQ(target_relation(reg(HandlerKind::BatchedUpdate, R"({"table":"t"})")), std::optional<std::string>("t"));
    EXPECT_EQ(target_relation(reg(HandlerKind::Index, R"({"table":"public.t"})")), std::optional<std::string>("t"));
    EXPECT_EQ(target_relation(reg(HandlerKind::ValidateConstraint, R"({"table":"s.T"})")),
              std::optional<std::string>("T"));
    // Not "schema.table": the whole name is the relation (as Dialect::table quotes it).
    EXPECT_EQ(target_relation(reg(HandlerKind::BatchedUpdate, R"({"table":"a.b.c"})")),
              std::optional<std::string>("a.b.c"));
}

TEST(TargetTable, GenericOrUnreadableIsUnknown) {
    EXPECT_EQ(target_relation(reg(HandlerKind::Generic, R"({"function":"f"})")), std::nullopt);
    EXPECT_EQ(target_relation(reg(HandlerKind::BatchedUpdate, "not json")), std::nullopt);
    EXPECT_EQ(target_relation(reg(HandlerKind::BatchedUpdate, "{}")), std::nullopt);
}

TEST(TargetTable, ParallelWidth) {
    using T = std::optional<std::string>;
    EXPECT_EQ(parallel_width({}), 0);
    EXPECT_EQ(parallel_width({T("a")}), 1);
    EXPECT_EQ(parallel_width({T("a"), T("a")}), 1);    // same table: one at a time
    EXPECT_EQ(parallel_width({T("a"), T("b")}), 2);
    EXPECT_EQ(parallel_width({std::nullopt, std::nullopt}), 1);  // unknown tables run alone
    EXPECT_EQ(parallel_width({std::nullopt, T("a"), T("b")}), 2);
}
