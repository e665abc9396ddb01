// Health decisions: readings against thresholds, the cache, failing closed.
#include <gtest/gtest.h>

#include <stdexcept>

#include "batch_controller.h"
#include "dialect.h"
#include "health.h"
#include "runnability.h"
#include "runner.h"
#include "settings.h"
#include "store.h"

using namespace bgupdate;

namespace {

// Only the health part of Engine is used; everything else must not be called.
class FakeEngine : public Engine {
public:
    std::vector<HealthReading> readings;
    bool fail = false;
    int reads = 0;
    HealthRequest last;

    const Dialect& dialect() const override { return d_; }
    Rows query(const std::string&) override { throw std::logic_error("unused"); }
    int64_t exec(const std::string&) override { throw std::logic_error("unused"); }
    Rows query(const std::string&, const std::vector<Value>&) override { throw std::logic_error("unused"); }
    int64_t exec(const std::string&, const std::vector<Value>&) override { throw std::logic_error("unused"); }
    void begin_batch(int64_t, int64_t) override {}
    void commit_batch() override {}
    void rollback_batch() override {}
    void exec_outside_transaction(const std::string&) override {}
    bool try_claim_update(const std::string&) override { return true; }
    void release_update(const std::string&) override {}
    int64_t call_handler(const std::string&, const std::string&, int64_t) override { return 0; }
    std::optional<double> call_hook(const std::string&, const std::string&) override { return std::nullopt; }
    std::string resolve_function(const std::string& f, bool) override { return f; }
    Identity current_identity() override { return {}; }
    void enter_identity(const Identity&) override {}
    void leave_identity() override {}
    bool may_manage(const std::string&) override { return true; }
    void check_fragment(FragmentKind, const std::string&, const std::string&) override {}
    std::optional<std::string> get_setting(const std::string&) override { return std::nullopt; }
    void set_setting(const std::string&, const std::string&) override {}
    bool sleep_ms(int64_t) override { return true; }
    std::vector<HealthReading> read_health(const HealthRequest& r) override {
        reads++;
        last = r;
        if (fail) throw std::runtime_error("permission denied for function pg_ls_archive_statusdir");
        return readings;
    }
    std::string database_key() override { return "db1"; }
    ConstraintDelta& constraint_delta() override { throw std::logic_error("unused"); }
    QueueAdoption& queue_adoption() override { throw std::logic_error("unused"); }

private:
    Dialect d_{Dialect::Kind::Postgres};
};

}  // namespace

TEST(Health, DefaultsTurnOnTheSafeChecks) {
    Settings s;
    auto w = wanted_signals(s);
    for (const char* sig : {signal::kReplicaLagMs, signal::kReplicaLagMb, signal::kSlotRetainedMb, signal::kVacuum,
                            signal::kArchiveReady, signal::kXminAgeS, signal::kWalMb})
        EXPECT_NE(std::find(w.begin(), w.end(), sig), w.end()) << sig;
    // Read inside a batch, not before it.
    EXPECT_EQ(std::find(w.begin(), w.end(), signal::kBlockedSessions), w.end());
    // Off unless set: no limit fits every workload (see the README).
    EXPECT_EQ(std::find(w.begin(), w.end(), signal::kWalFlushWaiters), w.end());
    s.health_max_wal_flush_waiters = 4;
    w = wanted_signals(s);
    EXPECT_NE(std::find(w.begin(), w.end(), signal::kWalFlushWaiters), w.end());
    s.health_max_archive_ready = 0;
    s.health_hold_on_vacuum = false;
    w = wanted_signals(s);
    EXPECT_EQ(std::find(w.begin(), w.end(), signal::kArchiveReady), w.end());
    EXPECT_EQ(std::find(w.begin(), w.end(), signal::kVacuum), w.end());
}

TEST(Health, OverTheLimitHoldsAndNamesTheSetting) {
    Settings s;
    auto v = judge_health({{signal::kArchiveReady, 43, ""}}, s);
    EXPECT_EQ(v.level, HealthLevel::Hold);
    EXPECT_NE(v.reason.find("43"), std::string::npos) << v.reason;
    EXPECT_NE(v.reason.find("bgupdate.health_max_archive_ready"), std::string::npos) << v.reason;
    EXPECT_EQ(judge_health({{signal::kArchiveReady, 42, ""}}, s).level, HealthLevel::Slow);  // at the limit: not over
    EXPECT_EQ(judge_health({{signal::kArchiveReady, 10, ""}}, s).level, HealthLevel::Green);
}

TEST(Health, BooleanChecksHoldOnAnyReading) {
    Settings s;
    auto v = judge_health({{signal::kVacuum, 1, "autovacuum pid 42"}}, s);
    EXPECT_EQ(v.level, HealthLevel::Hold);
    EXPECT_NE(v.reason.find("autovacuum pid 42"), std::string::npos);
    EXPECT_EQ(judge_health({{signal::kVacuum, 0, ""}}, s).level, HealthLevel::Green);
    s.health_hold_on_vacuum = false;
    EXPECT_EQ(judge_health({{signal::kVacuum, 1, ""}}, s).level, HealthLevel::Green);
}

TEST(Health, HookReasonHoldsNullDoesNot) {
    Settings s;
    s.health_hook = "app.health";
    auto v = judge_health({{signal::kHook, 0, "nightly report running"}}, s);
    EXPECT_EQ(v.level, HealthLevel::Hold);
    EXPECT_NE(v.reason.find("nightly report running"), std::string::npos);
    EXPECT_EQ(judge_health({{signal::kHook, 0, ""}}, s).level, HealthLevel::Green);
}

TEST(Health, HoldWinsOverSlowAndTheFirstHoldIsReported) {
    Settings s;
    auto v = judge_health({{signal::kReplicaLagMs, 20000, "standby1"},
                           {signal::kXminAgeS, 700, "pid 7"},
                           {signal::kArchiveReady, 100, ""}},
                          s);
    EXPECT_EQ(v.level, HealthLevel::Hold);
    EXPECT_NE(v.reason.find("xmin"), std::string::npos) << v.reason;
}

TEST(Health, OffChecksAreIgnored) {
    Settings s;
    s.health_max_replica_lag_ms = 0;
    EXPECT_EQ(judge_health({{signal::kReplicaLagMs, 1e9, ""}}, s).level, HealthLevel::Green);
}

TEST(Health, CheckFailsClosed) {
    clear_health_cache();
    FakeEngine e;
    e.fail = true;
    Settings s;
    auto v = check_health(e, s, "u", "t");
    EXPECT_EQ(v.level, HealthLevel::Hold);
    EXPECT_NE(v.reason.find("fail closed"), std::string::npos) << v.reason;
    EXPECT_NE(v.reason.find("permission denied"), std::string::npos) << v.reason;
}

TEST(Health, GreenIsCachedHoldIsNot) {
    clear_health_cache();
    FakeEngine e;
    Settings s;
    s.health_check_interval_ms = 60000;
    EXPECT_EQ(check_health(e, s, "u", "t").level, HealthLevel::Green);
    EXPECT_EQ(check_health(e, s, "u", "t").level, HealthLevel::Green);
    EXPECT_EQ(e.reads, 1);
    EXPECT_EQ(e.last.table, "t");
    check_health(e, s, "other", "t2");  // another update: its own entry
    EXPECT_EQ(e.reads, 2);
    e.readings = {{signal::kArchiveReady, 100, ""}};
    clear_health_cache();
    EXPECT_EQ(check_health(e, s, "u", "t").level, HealthLevel::Hold);
    EXPECT_EQ(check_health(e, s, "u", "t").level, HealthLevel::Hold);
    EXPECT_EQ(e.reads, 4);
    s.health_check_interval_ms = 0;  // no caching
    e.readings.clear();
    check_health(e, s, "u", "t");
    check_health(e, s, "u", "t");
    EXPECT_EQ(e.reads, 6);
}

TEST(Health, ARisingSignalHoldsBeforeItPassesItsLimit) {
    Settings s;
    s.health_max_replica_lag_mb = 16;
    // 13 MB now, rising 2 MB per check: 15 at the next one, under the limit.
    auto v = judge_health({{signal::kReplicaLagMb, 13, "standby n3"}}, s, {{signal::kReplicaLagMb, 2}});
    EXPECT_EQ(v.level, HealthLevel::Slow) << v.reason;
    // Rising 4 MB per check: the next batch would take it to 17 MB.
    v = judge_health({{signal::kReplicaLagMb, 13, "standby n3"}}, s, {{signal::kReplicaLagMb, 4}});
    EXPECT_EQ(v.level, HealthLevel::Hold);
    EXPECT_NE(v.reason.find("standby n3"), std::string::npos) << v.reason;
    EXPECT_NE(v.reason.find("rising 4 MB per check, would pass limit 16"), std::string::npos) << v.reason;
    EXPECT_NE(v.reason.find("bgupdate.health_max_replica_lag_mb"), std::string::npos) << v.reason;
    // Well under half the limit but rising fast: slow down already.
    v = judge_health({{signal::kReplicaLagMb, 3, ""}}, s, {{signal::kReplicaLagMb, 6}});
    EXPECT_EQ(v.level, HealthLevel::Slow);
    EXPECT_NE(v.reason.find("would pass half its limit 16"), std::string::npos) << v.reason;
    // Boolean checks have no growth.
    EXPECT_EQ(judge_health({{signal::kVacuum, 0, ""}}, s, {{signal::kVacuum, 5}}).level, HealthLevel::Green);
}

TEST(Health, SessionsWaitingForWalFlushesSlowPastHalfAndHoldPastTheLimit) {
    Settings s;
    s.health_max_wal_flush_waiters = 4;
    EXPECT_EQ(judge_health({{signal::kWalFlushWaiters, 1.5, ""}}, s).level, HealthLevel::Green);
    auto v = judge_health({{signal::kWalFlushWaiters, 2.5, ""}}, s);
    EXPECT_EQ(v.level, HealthLevel::Slow);
    EXPECT_NE(v.reason.find("sessions waiting for WAL flushes 2.5 is past half its limit 4"), std::string::npos)
        << v.reason;
    v = judge_health({{signal::kWalFlushWaiters, 4.5, ""}}, s);
    EXPECT_EQ(v.level, HealthLevel::Hold);
    EXPECT_NE(v.reason.find("sessions waiting for WAL flushes 4.5 > limit 4 [bgupdate.health_max_wal_flush_waiters]"),
              std::string::npos)
        << v.reason;
    // A sampled level that goes up and down: its rise since the last check
    // does not count (1.5 rising by 3 would otherwise hold).
    EXPECT_EQ(judge_health({{signal::kWalFlushWaiters, 1.5, ""}}, s, {{signal::kWalFlushWaiters, 3}}).level,
              HealthLevel::Green);
    s.health_max_wal_flush_waiters = 0;
    EXPECT_EQ(judge_health({{signal::kWalFlushWaiters, 40, ""}}, s).level, HealthLevel::Green);
}

TEST(Health, GrowthIsMeasuredBetweenChecksWithABatchBetween) {
    clear_health_cache();
    FakeEngine e;
    Settings s;
    s.health_max_replica_lag_mb = 16;
    s.health_check_interval_ms = 60000;
    e.readings = {{signal::kReplicaLagMb, 2, "standby n3"}};
    EXPECT_EQ(check_health(e, s, "u", "t").level, HealthLevel::Green);
    EXPECT_EQ(check_health(e, s, "u", "t").level, HealthLevel::Green);
    EXPECT_EQ(e.reads, 1) << "green is reused";
    s.health_check_interval_ms = 0;  // as if the interval had passed
    e.readings = {{signal::kReplicaLagMb, 9, "standby n3"}};  // +7: slow
    EXPECT_EQ(check_health(e, s, "u", "t").level, HealthLevel::Slow);
    s.health_check_interval_ms = 60000;
    int reads = e.reads;
    e.readings = {{signal::kReplicaLagMb, 11, "standby n3"}};  // +2 per batch now
    EXPECT_EQ(check_health(e, s, "u", "t").level, HealthLevel::Slow);
    EXPECT_EQ(e.reads, reads + 1) << "a slow verdict is checked again before every batch";
    e.readings = {{signal::kReplicaLagMb, 15, "standby n3"}};  // +4: 19 next time
    auto v = check_health(e, s, "u", "t");
    EXPECT_EQ(v.level, HealthLevel::Hold);
    // Held: no batch ran, so an unchanged reading keeps the last rise (replay paused).
    EXPECT_EQ(check_health(e, s, "u", "t").level, HealthLevel::Hold);
    EXPECT_EQ(e.reads, reads + 3);
    // The standby caught up: it runs again (1 MB, plus the last rise of 4: under half the limit).
    e.readings = {{signal::kReplicaLagMb, 1, "standby n3"}};
    EXPECT_EQ(check_health(e, s, "u", "t").level, HealthLevel::Green);
}

TEST(Health, NothingToCheckReadsNothing) {
    clear_health_cache();
    FakeEngine e;
    Settings s;
    s.health_max_replica_lag_ms = s.health_max_replica_lag_mb = s.health_max_slot_retained_mb = 0;
    s.health_hold_on_vacuum = false;
    s.health_max_archive_ready = s.health_max_xmin_age_s = s.health_max_wal_mb = s.health_max_wal_flush_waiters = 0;
    EXPECT_EQ(check_health(e, s, "u", "t").level, HealthLevel::Green);
    EXPECT_EQ(e.reads, 0);
}

TEST(BatchControllerCap, MaxBatchSizeCapsTheController) {
    BatchPerformance perf;
    perf.record(1000, 1.0);  // 1000 items per ms: 100 ms wants 100000
    BatchLimits l;
    EXPECT_EQ(next_batch_size(perf, l), 100000);
    l.max_batch_size = 5000;
    EXPECT_EQ(next_batch_size(perf, l), 5000);
    l.min_batch_size = 8000;  // the minimum wins over a smaller cap
    EXPECT_EQ(next_batch_size(perf, l), 8000);
    BatchPerformance fresh;
    l.min_batch_size = 1;
    l.default_batch_size = 10000;
    EXPECT_EQ(next_batch_size(fresh, l), 5000);  // the first batch too
}

TEST(HealthRunnability, OnHoldUntilItsTimeButNotForFinish) {
    FakeEngine e;
    Registration reg{"u", HandlerKind::BatchedUpdate, "{\"table\": \"t\"}", {}};
    UpdateState st;
    st.hold_reason = "archive backlog";
    st.hold_until_ms = 10000;
    Runnability r = assess_update(e, RunScope{}, &reg, st, 5000);
    EXPECT_EQ(r.blocker, Blocker::OnHold);
    EXPECT_STREQ(r.code(), "on_hold");
    EXPECT_EQ(r.until_ms, 10000);
    EXPECT_NE(r.reason("u").find("archive backlog"), std::string::npos);
    EXPECT_TRUE(assess_update(e, RunScope{}, &reg, st, 5000, /*by_name=*/true).runnable());
    EXPECT_TRUE(assess_update(e, RunScope{}, &reg, st, 10001).runnable());  // its time passed: checked again
    st.next_attempt_at_ms = 20000;  // a later backoff says more
    EXPECT_EQ(assess_update(e, RunScope{}, &reg, st, 5000).blocker, Blocker::BackingOff);
}

TEST(HealthPacing, PauseAfterABatch) {
    Settings s;
    StepOutcome out;
    out.update_name = "u";
    out.duration_ms = 80;
    EXPECT_EQ(pause_after_batch_ms(out, s), 1000);  // Synapse's sleep by default
    s.sleep_enabled = false;
    EXPECT_EQ(pause_after_batch_ms(out, s), 0);
    s.health_pacing = true;
    s.sleep_enabled = true;  // health pacing overrides the sleep
    EXPECT_EQ(pause_after_batch_ms(out, s), 0);  // green: back to back
    out.slow = true;
    EXPECT_EQ(pause_after_batch_ms(out, s), 80);  // a check past half its limit: half speed
    out.slow = false;
    out.on_hold = "1 session(s) waited";
    out.retry_in_ms = 80;
    EXPECT_EQ(pause_after_batch_ms(out, s), 80);  // blocked sessions: back off as long as the batch took
    s.health_pacing = false;
    EXPECT_EQ(pause_after_batch_ms(out, s), 1000);  // never shorter than Synapse's sleep
}
