// Runner, Api, Store and handlers against an in-memory SQLite engine:
// backoff, cycles, progress reset, lock timeouts, batch shrinking,
// re-entrancy, and what step() and status say when nothing can run.
#include <gtest/gtest.h>

#include <chrono>
#include <thread>

#include "api.h"
#include "handlers/handler.h"
#include "json.h"
#include "memory_engine.h"
#include "runner.h"
#include "store.h"

using bgupdate::Api;
using bgupdate::Json;
using bgupdate::Store;
using bgupdate_test::MemoryEngine;

namespace {

class RunnerTest : public ::testing::Test {
protected:
    void SetUp() override {
        api.ensure_schema();
        engine.exec("CREATE TABLE t(id INTEGER PRIMARY KEY, a INT, b INT)");
        engine.exec("WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 100)"
                    " INSERT INTO t SELECT i, i, NULL FROM n");
    }
    Json step() { return Json::parse(api.step().to_json(), "step"); }
    bgupdate::StatusRow status_of(const std::string& name) {
        for (auto& r : api.status())
            if (r.update_name == name) return r;
        ADD_FAILURE() << "no status row for " << name;
        return {};
    }
    // A generic handler that fails while `broken` is set, else completes.
    void register_flaky(const std::string& name, bool* broken) {
        engine.handlers[name + "_fn"] = [this, name, broken](const std::string&, int64_t) -> int64_t {
            if (*broken) throw bgupdate::Error(bgupdate::ErrorKind::Failure, "broke on purpose");
            api.end_update(name);
            return 1;
        };
        api.register_update_handler(name, name + "_fn");
        api.enqueue(name, 0, std::nullopt, "{}");
    }
    int64_t backoff_ms(const std::string& name) {
        return Store(engine).state(name).next_attempt_at_ms - bgupdate::wall_clock_ms();
    }

    MemoryEngine engine;
    Api api{engine};
};

TEST_F(RunnerTest, BackoffDoublesPerFailureUpToTheCapThenMarksFailed) {
    api.config("retry_backoff_ms", "1000");
    api.config("max_backoff_ms", "3000");
    api.config("max_failures", "4");
    bool broken = true;
    register_flaky("f", &broken);
    const int64_t expected[] = {1000, 2000, 3000};
    for (int64_t want : expected) {
        Json out = step();
        ASSERT_TRUE(out.at("error").is_string()) << out.dump();
        EXPECT_NEAR(static_cast<double>(backoff_ms("f")), static_cast<double>(want), 200.0);
        EXPECT_EQ(status_of("f").state, "backing_off");
        Json idle = step();  // nothing runs while it backs off: step() says so
        EXPECT_TRUE(idle.at("update_name").is_null());
        EXPECT_EQ(idle.at("waiting").element(0).get_string("why"), "backing_off") << idle.dump();
        EXPECT_TRUE(idle.at("waiting").element(0).get_string("retry_at").has_value());
        api.resume("f");  // clears the wait, not the count
    }
    Json last = step();
    EXPECT_TRUE(last.at("failed").is_true()) << last.dump();
    EXPECT_EQ(status_of("f").state, "failed");
    EXPECT_EQ(step().at("waiting").element(0).get_string("why"), "failed");
    broken = false;
    api.retry("f");
    EXPECT_TRUE(step().at("done").is_true());
    EXPECT_FALSE(status_of("f").last_error.has_value()) << "a completed update carries no current error";
}

// The sleep after a batch is owed even when it outlasts run(max_ms): run()
// returns without starting another batch, says when the next one is due, and
// a caller that runs again at once (the worker's one-second slices) waits
// first. Cutting the sleep at the deadline ran batches in back-to-back pairs.
TEST_F(RunnerTest, RunEndsWhenTheSleepBetweenBatchesOutlastsItAndSaysWhenTheNextBatchIsDue) {
    api.config("sleep_enabled", "true");
    api.config("sleep_duration_ms", "1500");
    api.config("default_batch_size", "10");
    api.config("max_batch_size", "10");
    api.register_batched_update({"fill", "t", {"id"}, "b = a", std::nullopt});
    api.enqueue("fill", 0, std::nullopt, "{}");
    bgupdate::RunSummary sum = api.run(1000);
    EXPECT_EQ(sum.batches, 1);
    EXPECT_EQ(sum.next_batch_in_ms, 1500);
    EXPECT_EQ(engine.slept_ms, 0) << "no part of the sleep is spent inside a run that ends before it";
    EXPECT_EQ(Json::parse(sum.to_json(), "run").at("next_batch_in_ms").as_integer(), 1500);
    // Within max_ms the sleeps are slept (the test engine's sleep takes no time).
    sum = api.run(5000);
    EXPECT_TRUE(sum.all_done);
    EXPECT_GE(sum.batches, 9);  // the other 90 rows, 10 a batch
    EXPECT_EQ(sum.next_batch_in_ms, 0);
    EXPECT_EQ(engine.slept_ms, (sum.batches - 1) * 1500) << "a sleep between each two batches, none after the last";
    // Sleep switched off: nothing is owed.
    api.config("sleep_enabled", "false");
    api.register_batched_update({"again", "t", {"id"}, "b = a + 1", std::nullopt});
    api.enqueue("again", 0, std::nullopt, "{}");
    sum = api.run(0);
    EXPECT_EQ(sum.next_batch_in_ms, 0);
    EXPECT_FALSE(Json::parse(sum.to_json(), "run").has("next_batch_in_ms"));
}

TEST_F(RunnerTest, CycleIsAnErrorNamingItAndOthersStillRun) {
    api.register_batched_update({"a", "t", {"id"}, "b = a", std::nullopt});
    api.register_batched_update({"b", "t", {"id"}, "b = a", std::nullopt});
    api.register_batched_update({"c", "t", {"id"}, "b = a", std::nullopt});
    api.enqueue("a", 0, std::string("b"), "{}");
    api.enqueue("b", 0, std::string("a"), "{}");
    api.enqueue("c", 5, std::nullopt, "{}");
    api.finish("c");
    try {
        api.step();
        FAIL() << "a cycle blocking everything must raise";
    } catch (const bgupdate::Error& e) {
        EXPECT_NE(std::string(e.what()).find("a -> b -> a"), std::string::npos) << e.what();
    }
    EXPECT_EQ(status_of("a").state, "waiting");
    EXPECT_EQ(status_of("a").last_error.value_or(""), "dependency cycle: a -> b -> a");
}

TEST_F(RunnerTest, ProgressResetRollsTheBatchBackButKeepsTheNewProgress) {
    engine.handlers["resetting"] = [this](const std::string&, int64_t) -> int64_t {
        engine.exec("UPDATE t SET b = 1");
        api.update_progress("r", "{\"pos\": 99}");
        throw bgupdate::ProgressReset{"{\"pos\": 0}", "found a bad row: rescanning"};
    };
    api.register_update_handler("r", "resetting");
    api.enqueue("r", 0, std::nullopt, "{\"pos\": 50}");
    Json out = step();
    EXPECT_EQ(out.get_string("update_name"), "r");
    EXPECT_EQ(engine.query("SELECT count(*) FROM t WHERE b IS NOT NULL")[0][0].as_int(), 0) << "batch rolled back";
    EXPECT_EQ(Store(engine).queue_row("r")->progress_json, "{\"pos\": 0}");
    EXPECT_EQ(status_of("r").last_error.value_or(""), "found a bad row: rescanning");
    EXPECT_EQ(engine.depth(), 0);
}

TEST_F(RunnerTest, LockTimeoutAtBeginIsReportedNotRaisedNorCounted) {
    api.register_batched_update({"fill", "t", {"id"}, "b = a", std::nullopt});
    api.enqueue("fill", 0, std::nullopt, "{}");
    engine.lock_timeouts_at_begin = 1;
    Json out = step();
    EXPECT_TRUE(out.at("update_name").is_null());
    EXPECT_TRUE(out.at("lock_timeout").is_true()) << out.dump();
    EXPECT_TRUE(out.at("error").is_null());
    engine.lock_timeouts_at_begin = 3;
    Json summary = Json::parse(api.run(100000).to_json(), "run");
    EXPECT_EQ(summary.at("failures").as_integer(), 0) << summary.dump();
    EXPECT_EQ(summary.at("lock_timeouts").as_integer(), 3);
    EXPECT_TRUE(summary.at("all_done").is_true());
    EXPECT_EQ(status_of("fill").attempts, 0);
}

TEST_F(RunnerTest, LockTimeoutInsideABatchBacksOffWithoutCountingAFailure) {
    engine.handlers["locked"] = [](const std::string&, int64_t) -> int64_t {
        throw bgupdate::Error(bgupdate::ErrorKind::LockTimeout, "canceling statement due to lock timeout");
    };
    api.register_update_handler("l", "locked");
    api.enqueue("l", 0, std::nullopt, "{}");
    Json out = step();
    EXPECT_TRUE(out.at("lock_timeout").is_true());
    EXPECT_TRUE(out.at("error").is_null());
    EXPECT_EQ(status_of("l").attempts, 0);
    EXPECT_EQ(status_of("l").state, "backing_off");
}

TEST_F(RunnerTest, FinishWaitsOutAnotherSessionsClaimAndALockedWriter) {
    api.register_batched_update({"fill", "t", {"id"}, "b = a", std::nullopt});
    api.enqueue("fill", 0, std::nullopt, "{}");
    engine.lock_timeouts_at_begin = 2;
    api.finish("fill");
    EXPECT_GE(engine.slept_ms, 100) << "two pauses of 50 ms";
    EXPECT_TRUE(api.has_completed("fill"));
    EXPECT_EQ(engine.query("SELECT count(*) FROM t WHERE b = a")[0][0].as_int(), 100);
}

TEST_F(RunnerTest, BatchShrinksAfterASlowBatch) {
    api.config("default_batch_size", "100");
    api.config("update_duration_ms", "5");
    std::vector<int64_t> sizes;
    engine.handlers["slow"] = [&](const std::string&, int64_t batch_size) -> int64_t {
        sizes.push_back(batch_size);
        std::this_thread::sleep_for(std::chrono::milliseconds(20));  // at most 5 items/ms
        if (sizes.size() == 2) api.end_update("s");
        return batch_size;
    };
    api.register_update_handler("s", "slow");
    api.enqueue("s", 0, std::nullopt, "{}");
    step();
    step();
    ASSERT_EQ(sizes.size(), 2u);
    EXPECT_EQ(sizes[0], 100);
    EXPECT_LE(sizes[1], 25) << "5 ms at no more than 5 items/ms";
}

// No bgupdate function that runs, finishes or opens batches works inside a
// batch: a nested batch would end the outer one's timeouts, or wait for itself.
TEST_F(RunnerTest, NothingRunsOrOpensBatchesFromInsideABatch) {
    std::vector<std::string> refused;
    int calls = 0;
    engine.handlers["nested"] = [&](const std::string&, int64_t) -> int64_t {
        ++calls;
        auto attempt = [&](const char* what, auto&& f) {
            try {
                f();
                ADD_FAILURE() << what << " ran inside a batch";
            } catch (const bgupdate::Error& e) {
                EXPECT_EQ(e.kind(), bgupdate::ErrorKind::NotNow) << what;
                EXPECT_NE(std::string(e.what()).find("inside the batch of background update 'me'"), std::string::npos)
                    << e.what();
                refused.push_back(what);
            }
        };
        attempt("finish", [&] { api.finish("me"); });
        attempt("finish other", [&] { api.finish("other"); });
        attempt("step", [&] { api.step(); });
        attempt("run", [&] { api.run(1000); });
        attempt("estimate", [&] { api.estimate("other"); });
        attempt("reset", [&] { api.reset("other"); });
        std::optional<bgupdate::ApplicationBatch> slot;
        attempt("batch_begin", [&] { api.batch_begin(slot); });
        api.end_update("me");
        return 1;
    };
    api.register_update_handler("me", "nested");
    api.enqueue("me", 0, std::nullopt, "{}");
    api.register_batched_update({"other", "t", {"id"}, "b = a", std::nullopt});
    api.enqueue("other", 1, std::nullopt, "{}");
    Json out = step();
    EXPECT_EQ(out.get_string("update_name"), std::optional<std::string>("me")) << out.dump();
    EXPECT_TRUE(out.at("done").is_true()) << out.dump();
    EXPECT_EQ(calls, 1);
    EXPECT_EQ(refused.size(), 7u);
    // Nothing of "other" ran inside "me"'s batch.
    EXPECT_EQ(engine.query("SELECT count(*) FROM t WHERE b IS NOT NULL")[0][0].as_int(), 0);
}

TEST_F(RunnerTest, StepSaysWhyNothingRuns) {
    api.enqueue("orphan", 0, std::nullopt, "{}");
    api.register_batched_update({"held", "t", {"id"}, "b = a", std::nullopt});
    api.enqueue("held", 1, std::nullopt, "{}");
    api.pause("held");
    api.register_batched_update({"after", "t", {"id"}, "b = a", std::nullopt});
    api.enqueue("after", 2, std::string("held"), "{}");
    Json out = step();
    EXPECT_TRUE(out.at("update_name").is_null());
    EXPECT_FALSE(out.at("all_done").is_true());
    std::map<std::string, std::string> why;
    Json waiting = out.at("waiting");
    for (size_t i = 0; i < waiting.size(); ++i)
        why[*waiting.element(i).get_string("update_name")] = *waiting.element(i).get_string("why");
    EXPECT_EQ(why["orphan"], "no_handler");
    EXPECT_EQ(why["held"], "paused");
    EXPECT_EQ(why["after"], "waiting_for_dependency");
    bgupdate::RunScope background;
    background.declarative_only = true;
    engine.handlers["fn"] = [](const std::string&, int64_t) -> int64_t { return 0; };
    api.register_update_handler("orphan", "fn");
    Json bg = Json::parse(api.step(background).to_json(), "step");
    EXPECT_EQ(bg.at("waiting").element(0).get_string("why"), "needs_application") << bg.dump();
}

TEST_F(RunnerTest, FinishOfAnUnknownNameFailsAndOfACompletedOneSucceeds) {
    try {
        api.finish("no_such_update");
        FAIL() << "finish() of a name never known must fail";
    } catch (const bgupdate::Error& e) {
        EXPECT_EQ(e.kind(), bgupdate::ErrorKind::UndefinedObject);
        EXPECT_EQ(e.sqlstate(), "42704");
    }
    api.register_batched_update({"fill", "t", {"id"}, "b = a", std::nullopt});
    api.enqueue("fill", 0, std::nullopt, "{}");
    api.finish("fill");
    api.finish("fill");  // completed: known, nothing to do
    EXPECT_EQ(status_of("fill").state, "complete");
}

TEST_F(RunnerTest, StoreRoundTripsEveryStateColumnAndBoundsBatchHistory) {
    Store store(engine);
    bgupdate::UpdateState st;
    st.update_name = "x";
    st.paused = true;
    st.attempts = 3;
    st.total_failures = 7;
    st.last_error = "e";
    st.next_attempt_at_ms = 123;
    st.batches = 9;
    st.perf.total_items = 90;
    st.total_estimate = 1000;
    st.perf.avg_items = 1.5;
    st.perf.avg_duration_ms = 2.5;
    st.perf.total_duration_ms = 3.5;
    st.batch_size = 11;
    st.ordering = -4;
    st.depends_on = "y";
    st.started_at = "s";
    st.updated_at = "u";
    st.completed_at = "c";
    store.save_state(st);
    auto back = store.state("x");
    EXPECT_TRUE(back.exists);
    EXPECT_EQ(std::make_tuple(back.paused, back.failed, back.attempts, back.total_failures, back.last_error,
                              back.next_attempt_at_ms, back.batches, back.perf.total_items, back.total_estimate),
              std::make_tuple(true, false, int64_t(3), int64_t(7), std::optional<std::string>("e"), int64_t(123),
                              int64_t(9), int64_t(90), std::optional<int64_t>(1000)));
    EXPECT_EQ(std::make_tuple(back.perf.avg_items, back.perf.avg_duration_ms, back.perf.total_duration_ms,
                              back.batch_size, back.ordering, back.depends_on, back.started_at, back.updated_at,
                              back.completed_at),
              std::make_tuple(1.5, 2.5, 3.5, std::optional<int64_t>(11), std::optional<int64_t>(-4),
                              std::optional<std::string>("y"), std::optional<std::string>("s"),
                              std::optional<std::string>("u"), std::optional<std::string>("c")));
    for (int64_t n = 1; n <= 1200; ++n) store.add_batch_record("x", n, 1, 0.5, "{}");
    EXPECT_EQ(engine.query("SELECT count(*), min(batches) FROM bgupdate_history WHERE event = 'batch'")[0][0].as_int(),
              Store::kHistoryBatchRowsKept);
}

TEST_F(RunnerTest, ApplicationRunBatchesCommitWorkAndProgressTogether) {
    api.config("default_batch_size", "40");
    api.register_application_update("app");
    api.enqueue("app", 0, std::nullopt, "{}");
    std::optional<bgupdate::ApplicationBatch> slot;
    int batches = 0;
    for (;;) {
        Json b = Json::parse(api.batch_begin(slot), "batch_begin");
        if (b.at("update_name").is_null()) break;
        ASSERT_TRUE(slot.has_value());
        int64_t last = b.at("progress").at("last").as_integer().value_or(0);
        int64_t size = *b.at("batch_size").as_integer();
        int64_t upto = std::min<int64_t>(100, last + size);
        engine.exec("UPDATE t SET b = a WHERE id > " + std::to_string(last) + " AND id <= " + std::to_string(upto));
        Json out = Json::parse(api.batch_end(slot, upto - last, "{\"last\": " + std::to_string(upto) + "}", upto == 100).to_json(),
                               "batch_end");
        EXPECT_TRUE(out.at("error").is_null()) << out.dump();
        ++batches;
    }
    EXPECT_GE(batches, 2) << "the first batch has default_batch_size (40) of 100 rows";
    EXPECT_EQ(engine.query("SELECT count(*) FROM t WHERE b = a")[0][0].as_int(), 100);
    EXPECT_TRUE(api.has_completed("app"));
    EXPECT_EQ(engine.depth(), 0);
}

TEST_F(RunnerTest, ApplicationBatchFailureRollsBackAndStepLeavesItAlone) {
    api.register_application_update("app");
    api.enqueue("app", 0, std::nullopt, "{}");
    EXPECT_EQ(step().at("waiting").element(0).get_string("why"), "run_by_application");
    std::optional<bgupdate::ApplicationBatch> slot;
    Json b = Json::parse(api.batch_begin(slot), "batch_begin");
    EXPECT_EQ(b.get_string("update_name"), "app");
    EXPECT_THROW(api.batch_begin(slot), bgupdate::Error) << "one open batch per connection";
    engine.exec("UPDATE t SET b = -1");
    Json out = Json::parse(api.batch_fail(slot, "bad row").to_json(), "batch_fail");
    EXPECT_NE(out.get_string("error").value_or("").find("bad row"), std::string::npos);
    EXPECT_EQ(engine.query("SELECT count(*) FROM t WHERE b IS NOT NULL")[0][0].as_int(), 0);
    EXPECT_EQ(status_of("app").attempts, 1);
    EXPECT_FALSE(slot.has_value());
    EXPECT_THROW(api.batch_end(slot, 1, std::nullopt, false), bgupdate::Error);
}

TEST(HandlerKinds, OneTableNamesEveryKindBothWays) {
    using bgupdate::HandlerKind;
    for (auto k : {HandlerKind::Generic, HandlerKind::Index, HandlerKind::ValidateConstraint,
                   HandlerKind::ValidateConstraintAndDeleteRows, HandlerKind::BatchedUpdate, HandlerKind::Application})
        EXPECT_EQ(bgupdate::handler_kind_from_name(bgupdate::handler_kind_name(k)), k);
    EXPECT_TRUE(bgupdate::handler_kind_traits(HandlerKind::Generic).calls_application);
    EXPECT_FALSE(bgupdate::handler_kind_traits(HandlerKind::BatchedUpdate).calls_application);
    EXPECT_TRUE(bgupdate::needs_top_level_statements(HandlerKind::Index,
                                                     bgupdate::Dialect(bgupdate::Dialect::Kind::Postgres)));
    EXPECT_FALSE(bgupdate::needs_top_level_statements(HandlerKind::Index,
                                                      bgupdate::Dialect(bgupdate::Dialect::Kind::Sqlite)));
    EXPECT_THROW(bgupdate::handler_kind_from_name("nonsense"), bgupdate::Error);
}

}  // namespace
