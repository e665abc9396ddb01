// Who may run an update's batch, and what the others do meanwhile (README
// "Who runs a batch and when"): a runner that cannot claim an update moves on
// (step) or waits for the one that has it (finish), another role's update is
// left to the worker, and an update whose batches do nothing is held.
#include <gtest/gtest.h>

#include "api.h"
#include "json.h"
#include "memory_engine.h"
#include "runner.h"
#include "store.h"

using bgupdate::Api;
using bgupdate::Json;
using bgupdate::RunScope;
using bgupdate::Store;
using bgupdate_test::MemoryEngine;

namespace {

class WhoRunsTest : public ::testing::Test {
protected:
    void SetUp() override {
        api.ensure_schema();
        engine.exec("CREATE TABLE t(id INTEGER PRIMARY KEY, a INT, b INT)");
        engine.exec("WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 100)"
                    " INSERT INTO t SELECT i, i, NULL FROM n");
    }
    void queue_backfill(const std::string& name) {
        api.register_batched_update({name, "t", {"id"}, "b = coalesce(b, 0) + 1", std::nullopt});
        api.enqueue(name, 0, std::nullopt, "{}");
    }
    // Another runner finishes `name` after this one has waited `polls` times.
    void other_runner_finishes(const std::string& name, int polls) {
        engine.on_sleep = [this, name, polls, n = 0]() mutable {
            if (++n == polls) Store(engine).remove_from_queue(name);
        };
    }
    RunScope session() {
        RunScope s;
        s.only_manageable = true;
        s.only_own_role = true;
        return s;
    }

    MemoryEngine engine;
    Api api{engine};
};

TEST_F(WhoRunsTest, StepMovesOnWhenAnotherRunnerHasTheUpdate) {
    queue_backfill("busy");
    queue_backfill("free");
    engine.claimed_elsewhere = {"busy"};
    Json out = Json::parse(api.step().to_json(), "step");
    EXPECT_EQ(out.get_string("update_name"), std::optional<std::string>("free")) << out.dump();
}

TEST_F(WhoRunsTest, FinishWaitsForAnotherRunnerInsteadOfFailing) {
    queue_backfill("busy");
    engine.claimed_elsewhere = {"busy"};
    other_runner_finishes("busy", 3);
    EXPECT_NO_THROW(api.finish("busy"));
    EXPECT_EQ(engine.query("SELECT count(*) FROM t WHERE b IS NOT NULL")[0][0].as_int(), 0)
        << "this runner must not have run a batch of it";
    ASSERT_FALSE(engine.notices.empty());
    EXPECT_NE(engine.notices[0].find("waiting for background update 'busy'"), std::string::npos) << engine.notices[0];
}

TEST_F(WhoRunsTest, FinishGivesUpAfterItsTimeoutNamingTheUpdateAndItsState) {
    queue_backfill("busy");
    engine.claimed_elsewhere = {"busy"};
    try {
        api.finish("busy", 30);
        FAIL() << "finish() returned while the update was still queued";
    } catch (const bgupdate::Error& e) {
        EXPECT_EQ(e.kind(), bgupdate::ErrorKind::Canceled);
        EXPECT_NE(std::string(e.what()).find("timed out waiting for background update 'busy'"), std::string::npos)
            << e.what();
        EXPECT_NE(std::string(e.what()).find("items done"), std::string::npos) << e.what();
    }
    EXPECT_THROW(api.finish("busy", -1), bgupdate::Error);
}

TEST_F(WhoRunsTest, FinishStopsWaitingWhenTheUpdateFailsOrIsPaused) {
    queue_backfill("busy");
    engine.claimed_elsewhere = {"busy"};
    engine.on_sleep = [this] {
        auto st = Store(engine).state("busy");
        st.update_name = "busy";
        st.failed = true;
        st.last_error = "broke on purpose";
        Store(engine).save_state(st);
    };
    try {
        api.finish("busy");
        FAIL() << "finish() went on waiting for a failed update";
    } catch (const bgupdate::Error& e) {
        EXPECT_NE(std::string(e.what()).find("failed while finish('busy') waited"), std::string::npos) << e.what();
        EXPECT_NE(std::string(e.what()).find("broke on purpose"), std::string::npos) << e.what();
    }
}

TEST_F(WhoRunsTest, ASessionLeavesAnotherRolesUpdateToTheWorker) {
    engine.me = "alice";
    queue_backfill("alices");
    engine.me = "bob";
    Json out = Json::parse(api.step(session()).to_json(), "step");
    EXPECT_TRUE(out.at("update_name").is_null()) << out.dump();
    Json waiting = out.at("waiting");
    ASSERT_EQ(waiting.size(), 1u) << out.dump();
    EXPECT_EQ(waiting.element(0).get_string("why"), std::optional<std::string>("owned_by_another_role"));
    EXPECT_EQ(engine.query("SELECT count(*) FROM t WHERE b IS NOT NULL")[0][0].as_int(), 0);

    // finish() waits for the worker to complete it, never runs it here.
    other_runner_finishes("alices", 2);
    EXPECT_NO_THROW(api.finish("alices", std::nullopt, session()));
    EXPECT_EQ(engine.query("SELECT count(*) FROM t WHERE b IS NOT NULL")[0][0].as_int(), 0);
    ASSERT_FALSE(engine.notices.empty());
    EXPECT_NE(engine.notices[0].find("background worker"), std::string::npos) << engine.notices[0];
}

TEST_F(WhoRunsTest, FinishOfAnotherRolesUpdateFailsAtOnceWhenNoWorkerWillRunIt) {
    engine.me = "alice";
    queue_backfill("alices");
    engine.me = "bob";
    engine.no_background_runner = "no background worker runs here";
    try {
        api.finish("alices", std::nullopt, session());
        FAIL() << "finish() waited for a worker that does not run";
    } catch (const bgupdate::Error& e) {
        EXPECT_EQ(e.kind(), bgupdate::ErrorKind::NotNow);
        EXPECT_NE(std::string(e.what()).find("belongs to alice"), std::string::npos) << e.what();
        EXPECT_NE(std::string(e.what()).find("no background worker runs here"), std::string::npos) << e.what();
    }
    api.set_enabled(false);
    engine.no_background_runner = "";
    EXPECT_THROW(api.finish("alices", std::nullopt, session()), bgupdate::Error);
}

TEST_F(WhoRunsTest, AnUpdateWhoseBatchesDoNothingIsHeldSayingSo) {
    int calls = 0;
    engine.handlers["idle"] = [&](const std::string&, int64_t) -> int64_t {
        ++calls;
        return 0;  // never ends the update, never moves its progress
    };
    api.register_update_handler("stuck", "idle");
    api.enqueue("stuck", 0, std::nullopt, "{}");
    Json out;
    for (int i = 0; i < 10; ++i) out = Json::parse(api.step().to_json(), "step");
    EXPECT_EQ(calls, 10);
    ASSERT_TRUE(out.get_string("on_hold").has_value()) << out.dump();
    EXPECT_NE(out.get_string("on_hold")->find("made no progress in its last 10 batches"), std::string::npos);
    // Held: the next step runs nothing of it, and run() ends instead of spinning.
    Json next = Json::parse(api.step().to_json(), "step");
    EXPECT_TRUE(next.at("update_name").is_null()) << next.dump();
    Json summary = Json::parse(api.run(200).to_json(), "run");
    EXPECT_EQ(calls, 10) << summary.dump();
    EXPECT_EQ(Store(engine).state("stuck").hold_reason.value_or("").find("made no progress"), 0u);
}

TEST_F(WhoRunsTest, ProgressThatMovesIsNotAStallEvenWithZeroItems) {
    int calls = 0;
    engine.handlers["skipper"] = [&](const std::string& progress, int64_t) -> int64_t {
        ++calls;
        Json p = Json::parse_object(progress, "p");
        int64_t at = p.at("at").as_integer().value_or(0);
        if (at >= 15) {
            api.end_update("skipping");
            return 0;
        }
        Json next = Json::object();
        next.set("at", at + 1);
        api.update_progress("skipping", next.dump());
        return 0;  // a range with nothing to do: still progress
    };
    api.register_update_handler("skipping", "skipper");
    api.enqueue("skipping", 0, std::nullopt, "{}");
    Json summary = Json::parse(api.run(5000).to_json(), "run");
    EXPECT_TRUE(summary.at("all_done").is_true()) << summary.dump();
    EXPECT_EQ(calls, 16);
}

}  // namespace
