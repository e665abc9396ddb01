// plan_schedule: Synapse's order (ordering, then name), dependency waiting,
// and dependency cycles reported without stopping unrelated updates.
#include <gtest/gtest.h>

#include <optional>
#include <set>
#include <string>
#include <vector>

#include "scheduler.h"

using bgupdate::plan_schedule;
using bgupdate::QueueEntry;
using Strings = std::vector<std::string>;

namespace {

QueueEntry entry(std::string name, int64_t ordering = 0, std::optional<std::string> depends_on = std::nullopt,
                 bool blocked = false) {
    QueueEntry e;
    e.name = std::move(name);
    e.ordering = ordering;
    e.depends_on = std::move(depends_on);
    e.blocked = blocked;
    return e;
}

}  // namespace

TEST(Scheduler, EmptyQueue) {
    auto plan = plan_schedule({});
    EXPECT_TRUE(plan.runnable.empty());
    EXPECT_TRUE(plan.waiting.empty());
    EXPECT_TRUE(plan.cycles.empty());
    EXPECT_EQ(plan.describe_cycles(), "");
}

TEST(Scheduler, OrdersByOrderingThenName) {
    auto plan = plan_schedule({entry("c", 2), entry("b", 1), entry("z", -5), entry("a", 1)});
    EXPECT_EQ(plan.runnable, (Strings{"z", "a", "b", "c"}));
    EXPECT_TRUE(plan.waiting.empty());
}

TEST(Scheduler, TiesBrokenByName) {
    auto plan = plan_schedule({entry("update_b", 7706), entry("update_a", 7706), entry("update_c", 7706)});
    EXPECT_EQ(plan.runnable, (Strings{"update_a", "update_b", "update_c"}));
}

TEST(Scheduler, DependentWaitsForQueuedDependency) {
    // The dependent sorts first but must wait.
    auto plan = plan_schedule({entry("a_second", 1, "b_first"), entry("b_first", 2)});
    EXPECT_EQ(plan.runnable, Strings{"b_first"});
    EXPECT_EQ(plan.waiting, std::set<std::string>{"a_second"});
    EXPECT_TRUE(plan.cycles.empty());
}

TEST(Scheduler, ChainOfDependencies) {
    auto plan = plan_schedule({entry("c", 0, "b"), entry("b", 0, "a"), entry("a", 0)});
    EXPECT_EQ(plan.runnable, Strings{"a"});
    EXPECT_EQ(plan.waiting, (std::set<std::string>{"b", "c"}));
    EXPECT_TRUE(plan.cycles.empty());
}

TEST(Scheduler, MissingDependencyCountsAsSatisfied) {
    auto plan = plan_schedule({entry("x", 0, "long_finished_update")});
    EXPECT_EQ(plan.runnable, Strings{"x"});
    EXPECT_TRUE(plan.waiting.empty());
}

TEST(Scheduler, BlockedEntrySkippedWhileDependentsStillWait) {
    // A paused or failed update does not run, and what depends on it waits.
    auto plan = plan_schedule({entry("paused", 0, std::nullopt, true), entry("dependent", 1, "paused"),
                               entry("other", 2)});
    EXPECT_EQ(plan.runnable, Strings{"other"});
    EXPECT_EQ(plan.waiting, std::set<std::string>{"dependent"});
    EXPECT_TRUE(plan.cycles.empty());
}

TEST(Scheduler, TwoCycle) {
    auto plan = plan_schedule({entry("a", 0, "b"), entry("b", 0, "a")});
    EXPECT_TRUE(plan.runnable.empty());
    EXPECT_EQ(plan.waiting, (std::set<std::string>{"a", "b"}));
    ASSERT_EQ(plan.cycles.size(), 1u);
    EXPECT_EQ(plan.cycles[0], (Strings{"a", "b", "a"}));
    EXPECT_EQ(plan.describe_cycles(), "a -> b -> a");
}

TEST(Scheduler, SelfCycle) {
    auto plan = plan_schedule({entry("me", 0, "me")});
    EXPECT_TRUE(plan.runnable.empty());
    ASSERT_EQ(plan.cycles.size(), 1u);
    EXPECT_EQ(plan.cycles[0], (Strings{"me", "me"}));
    EXPECT_EQ(plan.describe_cycles(), "me -> me");
}

TEST(Scheduler, ThreeCycleReportedOnce) {
    auto plan = plan_schedule({entry("b", 0, "c"), entry("c", 0, "a"), entry("a", 0, "b")});
    EXPECT_TRUE(plan.runnable.empty());
    ASSERT_EQ(plan.cycles.size(), 1u);
    const std::string text = plan.describe_cycles();
    // Every name appears, the first is repeated at the end, and it follows depends_on.
    ASSERT_EQ(plan.cycles[0].size(), 4u);
    EXPECT_EQ(plan.cycles[0].front(), plan.cycles[0].back());
    for (size_t i = 0; i + 1 < plan.cycles[0].size(); ++i) {
        const auto& from = plan.cycles[0][i];
        const auto& to = plan.cycles[0][i + 1];
        const std::string expected_to = from == "a" ? "b" : from == "b" ? "c" : "a";
        EXPECT_EQ(to, expected_to) << text;
    }
    EXPECT_EQ(text, "a -> b -> c -> a");
}

TEST(Scheduler, CycleDoesNotStopUnrelatedUpdate) {
    auto plan = plan_schedule({entry("a", 0, "b"), entry("b", 0, "a"), entry("free", 5), entry("tail", 0, "a")});
    EXPECT_EQ(plan.runnable, Strings{"free"});
    EXPECT_EQ(plan.waiting, (std::set<std::string>{"a", "b", "tail"}));
    ASSERT_EQ(plan.cycles.size(), 1u);  // "tail" leads into the cycle but is not part of it
    EXPECT_EQ(plan.describe_cycles(), "a -> b -> a");
}

TEST(Scheduler, TwoCyclesDescribedTogether) {
    auto plan = plan_schedule({entry("a", 0, "b"), entry("b", 0, "a"), entry("x", 0, "x")});
    ASSERT_EQ(plan.cycles.size(), 2u);
    EXPECT_EQ(plan.describe_cycles(), "a -> b -> a; x -> x");
}
