#include "runner.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <limits>
#include <map>
#include <set>

#include "batch_transaction.h"
#include "current_batch.h"
#include "errors.h"
#include "handlers/handler.h"
#include "health.h"
#include "identity_scope.h"
#include "json.h"
#include "runnability.h"
#include "scheduler.h"
#include "target_table.h"

namespace bgupdate {

thread_local const CurrentBatch* CurrentBatch::top_ = nullptr;

namespace {

constexpr int64_t kLockRetryPauseMs = 50;  // run()/finish() after a lock timeout outside any update
// Batches in a row with 0 items and unchanged progress before the update is
// held (and probed again after max_backoff_ms).
constexpr int64_t kStalledBatchesBeforeHold = 10;

double steady_ms() {
    using namespace std::chrono;
    return duration<double, std::milli>(steady_clock::now().time_since_epoch()).count();
}

// Releases the cross-session claims on an update and its table however the batch ends.
class ClaimGuard {
public:
    ClaimGuard(Engine& e, std::string name) : e_(e), name_(std::move(name)) {}
    ~ClaimGuard() {
        try { e_.release_table(); } catch (...) {}  // never throw from a destructor
        try { e_.release_update(name_); } catch (...) {}
    }
private:
    Engine& e_;
    std::string name_;
};

// A handler's count of items is added to the update's total: a negative count
// or one that overflows the total is an error, never a wrapped counter.
void require_sane_items(const std::string& name, int64_t items, int64_t total_so_far) {
    if (items < 0)
        throw Error(ErrorKind::Failure, "the handler of '" + name + "' returned " + std::to_string(items) +
                                            " items; the number of items processed must not be negative");
    int64_t sum;
    if (__builtin_add_overflow(total_so_far, items, &sum))
        throw Error(ErrorKind::Failure, "the handler of '" + name + "' returned " + std::to_string(items) +
                                            " items, which overflows the update's total of " +
                                            std::to_string(total_so_far) + " items done");
}

// Adds for a summary that spans updates: saturates instead of wrapping.
int64_t saturating_add(int64_t a, int64_t b) {
    int64_t sum;
    return __builtin_add_overflow(a, b, &sum) ? (b > 0 ? INT64_MAX : INT64_MIN) : sum;
}

// Thrown before a batch's work when a health check says stop.
struct HoldRequest {
    std::string reason;
};

// lock_timeout, or a batch statement cancelled by statement_timeout_ms: told
// by the error's kind, which each engine sets from its own codes.
bool is_timeout(const Error& e) {
    return e.kind() == ErrorKind::LockTimeout || e.kind() == ErrorKind::StatementTimeout;
}

// Claims a unit of an update (the update as a whole, or one partition of
// it: work_units.h) and then its table (never two updates on one table at
// once; an unknown table excludes all others; a partition claims itself and
// its table shared), or neither: a failure or an error after the first claim
// gives it back.
bool claim_unit(Engine& e, const std::string& name, const WorkUnit& unit) {
    const std::string key = claim_key(name, unit);
    if (!e.try_claim_update(key)) return false;  // another session or worker has it
    bool ok = false;
    try {
        ok = unit.parent && unit.table ? e.try_claim_partition(*unit.parent, *unit.table) : e.try_claim_table(unit.table);
    } catch (...) {
        try { e.release_update(key); } catch (...) {}
        throw;
    }
    if (!ok) e.release_update(key);
    return ok;
}

// Gives back what claim_unit took under `key` (a no-op where the claim must
// outlive the call: see Engine::try_claim_update).
void release_claims(Engine& e, const std::string& key) {
    try { e.release_table(); } catch (...) {}
    try { e.release_update(key); } catch (...) {}
}

// The first unit of an update that can be claimed now, if any.
std::optional<WorkUnit> claim_some_unit(Engine& e, const std::string& name, const std::vector<WorkUnit>& units) {
    for (auto& u : units)
        if (claim_unit(e, name, u)) return u;
    return std::nullopt;
}

std::vector<WorkUnit> units_of(const std::optional<Registration>& reg, const QueueRow& row) {
    return reg ? work_units(*reg, row.progress_json) : work_units_of_unregistered();
}

}  // namespace

std::string StepOutcome::to_json() const {
    Json j = Json::object();
    if (update_name) j.set("update_name", *update_name); else j.set_null("update_name");
    j.set("items", items);
    j.set("duration_ms", duration_ms);
    j.set("batch_size", batch_size);
    j.set_bool("done", done);
    j.set_bool("all_done", all_done);
    if (lock_timeout) j.set_bool("lock_timeout", true);
    if (disabled) j.set_bool("enabled", false);
    if (retry_in_ms) j.set("retry_in_ms", *retry_in_ms);
    if (!update_name && !blocked.empty()) {
        // Why nothing ran: one entry per queued update that cannot run now.
        Json waiting = Json::array();
        for (auto& [name, why] : blocked) {
            Json w = Json::object();
            w.set("update_name", name);
            w.set("why", why.code());
            w.set("reason", why.reason(name));
            if (why.blocker == Blocker::BackingOff || why.blocker == Blocker::OnHold)
                w.set("retry_at", iso_timestamp(why.until_ms));
            waiting.append(w);
        }
        j.set("waiting", waiting);
    }
    if (error) {
        j.set("error", *error);
        j.set("sqlstate", error_sqlstate);
        if (!error_detail.empty()) j.set("detail", error_detail);
        if (!error_hint.empty()) j.set("hint", error_hint);
        j.set_bool("failed", failed);
    }
    if (on_hold) j.set("on_hold", *on_hold);
    if (slow) j.set_bool("slow", true);
    if (shrunk_to) j.set("shrunk_to", *shrunk_to);
    return j.dump();
}

BatchLimits Runner::limits_for(const std::string& name, const Settings& s) {
    BatchLimits limits{s.update_duration_ms, s.default_batch_size, s.min_batch_size, s.max_batch_size};
    // Controller hooks (Synapse's module callbacks); NULL keeps the setting.
    auto hook = [&](const std::string& fn, const char* what) -> std::optional<double> {
        if (fn.empty()) return std::nullopt;
        auto v = engine_.call_hook(fn, name);
        if (v && (!std::isfinite(*v) || *v < 0))
            throw Error(ErrorKind::Failure, std::string(what) + " hook " + fn + " returned " + Value::of_real(*v).as_text() +
                                                "; it must return a finite number, not negative, or NULL");
        return v;
    };
    // A batch size must fit a 64-bit integer: a larger value is an error, not a wrapped size.
    auto size = [&](double v, const char* what, const std::string& fn) -> int64_t {
        if (v >= 9.2e18)
            throw Error(ErrorKind::Failure, std::string(what) + " hook " + fn + " returned " + Value::of_real(v).as_text() +
                                                ", too large for a batch size");
        return std::max<int64_t>(1, static_cast<int64_t>(v));
    };
    if (auto v = hook(s.duration_hook, "duration")) limits.target_duration_ms = *v;
    if (auto v = hook(s.default_batch_size_hook, "default_batch_size"))
        limits.default_batch_size = size(*v, "default_batch_size", s.default_batch_size_hook);
    if (auto v = hook(s.min_batch_size_hook, "min_batch_size")) {
        limits.min_batch_size = size(*v, "min_batch_size", s.min_batch_size_hook);
        if (limits.max_batch_size > 0 && limits.min_batch_size > limits.max_batch_size)
            throw Error(ErrorKind::Failure, "min_batch_size hook " + s.min_batch_size_hook + " returned " +
                                                std::to_string(limits.min_batch_size) + ", above max_batch_size (" +
                                                std::to_string(limits.max_batch_size) + ")");
    }
    limits.target_duration_ms = engine_.batch_target_ms(limits.target_duration_ms);
    return limits;
}

StepOutcome Runner::step() { return step_with(settings_for_run()); }

Settings Runner::settings_for_run() {
    Settings settings = load_settings(engine_);
    require_settings_agree(settings);
    return settings;
}

StepOutcome Runner::step_with(const Settings& settings) {
    StepOutcome out;
    auto chosen = choose(settings, out);
    if (!chosen) return out;
    int width = out.parallel_width;  // how many updates could run side by side now
    out = guarded(*chosen, settings);
    out.parallel_width = width;
    return out;
}

std::optional<ClaimedUpdate> Runner::choose(const Settings& settings, StepOutcome& out) {
    if (!settings.enabled && !scope_.ignore_enabled) {
        out.disabled = true;
        return std::nullopt;
    }
    std::optional<ClaimedUpdate> chosen;
    std::string cycle;
    const bool own = !scope_.callers_transaction;
    try {
        if (own) engine_.begin_batch(settings.lock_timeout_ms, settings.statement_timeout_ms);
    } catch (const Error& e) {
        // SQLite: another connection holds the write lock (BEGIN IMMEDIATE
        // waited lock_timeout_ms). Reported as documented, never raised.
        if (e.kind() != ErrorKind::LockTimeout) throw;
        out.lock_timeout = true;
        return std::nullopt;
    }
    try {
        auto queue = store_.queue();
        std::map<std::string, UpdateState> states;
        for (auto& st : store_.states()) states[st.update_name] = st;
        std::map<std::string, Registration> regs;
        for (auto& r : store_.registrations()) regs[r.update_name] = r;

        QueueAssessment assessed = assess_queue(engine_, scope_, queue, states, regs, wall_clock_ms());
        const SchedulePlan& plan = assessed.plan;
        std::map<std::string, std::vector<WorkUnit>> units;
        std::vector<std::optional<std::string>> runnable_targets;
        for (auto& name : plan.runnable) {
            auto r = regs.find(name);
            auto q = std::find_if(queue.begin(), queue.end(), [&](const QueueRow& x) { return x.update_name == name; });
            units[name] = units_of(r != regs.end() ? std::optional<Registration>(r->second) : std::nullopt, *q);
            for (auto& u : units[name]) runnable_targets.push_back(u.table);
        }
        out.parallel_width = parallel_width(runnable_targets);
        for (auto& name : plan.runnable) {
            // Another session or worker has it: take the next one. An
            // application-run batch claims the update only: its table claim
            // would last as long as the application's transaction (the batch)
            // and hold every other update back meanwhile.
            std::optional<WorkUnit> unit;
            if (scope_.application_batch) {
                if (engine_.try_claim_update(name)) unit = WorkUnit{};
            } else {
                unit = claim_some_unit(engine_, name, units[name]);
            }
            if (!unit) continue;
            const std::string key = claim_key(name, *unit);
            // What the scheduling pass read may be older than another runner's
            // last commit: the batch starts from what is read now, under the claim.
            auto fresh = read_claimed(name);
            if (!fresh || !assess_update(engine_, scope_, fresh->registration ? &*fresh->registration : nullptr,
                                         fresh->state, wall_clock_ms())
                               .runnable()) {
                release_claims(engine_, key);  // completed, paused or failed meanwhile
                continue;
            }
            fresh->unit = *unit;
            chosen = std::move(fresh);
            break;
        }
        if (!chosen) {
            if (own) engine_.commit_batch();
            if (plan.runnable.empty() && !plan.cycles.empty()) cycle = plan.describe_cycles();
            out.all_done = queue.empty();
            out.retry_in_ms = assessed.earliest_retry_ms;
            for (auto& q : queue)
                if (!assessed.updates[q.update_name].runnable())
                    out.blocked.emplace_back(q.update_name, assessed.updates[q.update_name]);
        }
    } catch (const Error& e) {
        if (!own) throw;
        try { engine_.rollback_batch(); } catch (...) {}
        if (e.kind() != ErrorKind::LockTimeout) throw;
        out = StepOutcome{};
        out.lock_timeout = true;
        return std::nullopt;
    } catch (...) {
        if (own) try { engine_.rollback_batch(); } catch (...) {}
        throw;
    }
    if (!cycle.empty()) bad_input("dependency cycle among background updates: " + cycle);
    return chosen;
}

// Runs the chosen, claimed update's batch in the open batch transaction and
// turns every way it can fail into a recorded failure.
StepOutcome Runner::guarded(const ClaimedUpdate& claimed, const Settings& settings) {
    const std::string& name = claimed.row.update_name;
    ClaimGuard claim(engine_, claim_key(name, claimed.unit));
    CurrentBatch marker(name);  // hooks, health checks, the handler and fragments run inside it
    try {
        return run_claimed(claimed, settings);
    } catch (const ProgressReset& reset) {
        engine_.rollback_batch();
        in_batch(engine_, settings, [&] {
            store_.save_progress(name, reset.progress_json);
            UpdateState st = store_.state(name);
            st.update_name = name;
            st.last_error = reset.reason;
            store_.save_state(st);
        });
        StepOutcome out;
        out.update_name = name;
        return out;
    } catch (const HoldRequest& hold) {
        try { engine_.rollback_batch(); } catch (...) {}  // nothing was done yet
        return record_hold(name, settings, hold.reason);
    } catch (const CallerCancel&) {
        try { engine_.rollback_batch(); } catch (...) {}
        throw;  // the caller asked to stop: not the update's failure
    } catch (const Error& e) {
        try { engine_.rollback_batch(); } catch (...) {}
        if (is_timeout(e))
            if (auto out = shrink_after_timeout(name, settings, e)) return *out;
        return failed_batch(claimed, settings, e);
    } catch (const std::exception& e) {
        try { engine_.rollback_batch(); } catch (...) {}
        return failed_batch(claimed, settings, Error(ErrorKind::Failure, e.what()));
    }
}

StepOutcome Runner::record_hold(const std::string& name, const Settings& settings, const std::string& reason) {
    bool fresh = false;
    in_batch(engine_, settings, [&] {
        UpdateState st = store_.state_locked(name);
        st.update_name = name;
        fresh = st.hold_reason != reason;
        st.hold_reason = reason;
        st.hold_until_ms = wall_clock_ms() + settings.health_hold_ms;
        st.updated_at = iso_timestamp_now();
        if (fresh) store_.add_history(name, "on_hold", st, reason);
        store_.save_state(st);
    });
    if (fresh) engine_.log_event("background update '" + name + "' is on hold for " +
                                 std::to_string(settings.health_hold_ms) + " ms: " + reason);
    StepOutcome out;
    out.update_name = name;
    out.on_hold = reason;
    out.retry_in_ms = settings.health_hold_ms;
    return out;
}

std::optional<StepOutcome> Runner::shrink_after_timeout(const std::string& name, const Settings& settings,
                                                        const Error& e) {
    int64_t size = batch_size_now_, min = min_batch_size_now_;
    bool lock = e.kind() == ErrorKind::LockTimeout;
    if (size <= min) {
        // At the minimum size a timeout counts toward max_failures (GitLab's
        // rule). A lock timeout before any batch was sized only backs off.
        if (lock && size == 0) {
            record_failure(name, e.what(), settings, false);
            StepOutcome out;
            out.update_name = name;
            out.lock_timeout = true;
            return out;
        }
        return std::nullopt;
    }
    int64_t half = std::max(min, size / 2);
    in_batch(engine_, settings, [&] {
        UpdateState st = store_.state_locked(name);
        st.update_name = name;
        st.last_error = std::string(e.what()) + " (retrying with batches of " + std::to_string(half) + ")";
        st.size_cap = half;
        st.updated_at = iso_timestamp_now();
        // A lock may be held a while: wait the first backoff; a slow statement retries at once, smaller.
        st.next_attempt_at_ms = lock ? wall_clock_ms() + std::min(settings.retry_backoff_ms, settings.max_backoff_ms) : 0;
        store_.save_state(st);
    });
    StepOutcome out;
    out.update_name = name;
    out.lock_timeout = lock;
    out.shrunk_to = half;
    if (lock) out.retry_in_ms = std::min(settings.retry_backoff_ms, settings.max_backoff_ms);
    return out;
}

StepOutcome Runner::failed_batch(const ClaimedUpdate& claimed, const Settings& settings, const Error& e) {
    const std::string& name = claimed.row.update_name;
    // The record keeps the engine's DETAIL with the message: it is what finds the bad row.
    std::string message = e.what();
    if (!e.detail().empty()) message += " (" + e.detail() + ")";
    // The history row says where the failing batch started (its key range begins there).
    Json detail = Json::object();
    detail.set("error", message);
    detail.set("sqlstate", e.sqlstate());
    try {
        detail.set("from", Json::parse(claimed.row.progress_json, "progress"));
    } catch (const Error&) {
        detail.set("from", claimed.row.progress_json);  // malformed progress (maybe the failure itself): as text
    }
    UpdateState st = record_failure(name, message, settings, true, detail.dump());
    StepOutcome out;
    out.update_name = name;
    out.failed = st.failed;
    out.error_kind = e.kind();
    out.error_sqlstate = e.sqlstate();
    out.error_detail = e.detail();
    out.error_hint = e.hint();
    out.error = "background update '" + name + "' failed (attempt " + std::to_string(st.attempts) + " of " +
                std::to_string(settings.max_failures) + "): " + e.what();
    if (st.failed) *out.error += "; it is now marked failed until retry('" + name + "') is called";
    engine_.log_event(*out.error);
    return out;
}

BatchStart Runner::start_batch(const ClaimedUpdate& claimed, const Settings& settings) {
    const QueueRow& row = claimed.row;
    const std::string& name = row.update_name;
    if (!claimed.registration)
        throw Error(ErrorKind::BadInput, "no handler is registered for background update '" + name +
                                             "' (register one with register_update_handler or another register_ function)");
    const auto& reg = claimed.registration;
    BatchStart b;
    b.progress = Json::parse_object(row.progress_json, "progress_json of background update '" + name + "'");
    b.progress_text = row.progress_json;  // where the batch began, whatever a handler does to its copy
    b.state = claimed.state;
    batch_size_now_ = 0;
    b.table = reg ? target_table(*reg).value_or("") : "";
    if (check_health_) {
        b.health = check_health(engine_, settings, name, b.table, reg ? reg->identity : Identity{});
        if (b.health.level == HealthLevel::Hold) throw HoldRequest{b.health.reason};
    }
    b.state.ordering = row.ordering;
    b.state.depends_on = row.depends_on;
    b.now = iso_timestamp_now();
    b.starting = !b.state.started_at;
    if (!b.state.started_at) b.state.started_at = b.now;
    BatchLimits limits = limits_for(name, settings);
    b.controller_size = next_batch_size(b.state.perf, limits);
    b.min_batch_size = limits.min_batch_size;
    b.batch_size = b.controller_size;
    if (b.state.size_cap && *b.state.size_cap < b.batch_size)
        b.batch_size = std::max(limits.min_batch_size, *b.state.size_cap);
    batch_size_now_ = b.batch_size;
    min_batch_size_now_ = limits.min_batch_size;
    b.identity = reg ? reg->identity : Identity{};
    b.hold_on_blocked = settings.health_hold_on_blocked_sessions;
    b.max_wal_flush_waiters = settings.health_max_wal_flush_waiters;
    b.health_hold_ms = settings.health_hold_ms;
    b.stall_hold_ms = settings.max_backoff_ms;
    b.side_by_side = !claimed.unit.partition.empty();
    return b;
}

StepOutcome Runner::run_claimed(const ClaimedUpdate& claimed, const Settings& settings) {
    const std::string& name = claimed.row.update_name;
    const Registration& reg = claimed.registration ? *claimed.registration : Registration{};
    BatchStart b = start_batch(claimed, settings);
    int64_t items;
    double duration;
    {
        AsIdentity as_owner(engine_, reg.identity);
        auto handler = make_handler(with_pinned_table(engine_, reg));
        // Until known (PostgreSQL: the table not analyzed yet), ask again each batch.
        if (!b.state.total_estimate) b.state.total_estimate = handler->estimate_total(engine_);
        BatchContext ctx{engine_, store_, name, claimed.row.progress_json, b.progress, b.batch_size,
                         claimed.unit.partition};
        double t0 = steady_ms();
        items = handler->run_batch(ctx);
        duration = steady_ms() - t0;
        if (ctx.total_estimate) b.state.total_estimate = ctx.total_estimate;
    }
    return commit_batch(name, b, items, duration);
}

StepOutcome Runner::commit_batch(const std::string& name, BatchStart& b, int64_t items, double duration) {
    if (b.side_by_side) {
        // Add this batch to the totals as they are now, not as they were when it started.
        UpdateState now = store_.state_locked(name);
        if (!now.started_at) now.started_at = b.state.started_at;
        if (!now.total_estimate) now.total_estimate = b.state.total_estimate;
        now.ordering = b.state.ordering;
        now.depends_on = b.state.depends_on;
        b.state = now;
    }
    UpdateState& st = b.state;
    require_sane_items(name, items, st.perf.total_items);
    st.perf.record(items, duration);
    st.batches++;
    st.batch_size = b.batch_size;
    st.attempts = 0;
    st.next_attempt_at_ms = 0;
    st.updated_at = b.now;
    bool resumed = st.hold_reason.has_value();
    st.hold_reason.reset();
    st.hold_until_ms = 0;
    // After a shrink, grow back by a quarter per good batch until the
    // controller's size fits: halve fast, grow slowly (TCP's AIMD), so that
    // an update settles near the largest batch that blocks nobody.
    if (st.size_cap) {
        int64_t grown = std::max(*st.size_cap + 1, *st.size_cap + *st.size_cap / 4);
        if (grown >= b.controller_size) st.size_cap.reset();
        else st.size_cap = grown;
    }
    auto after = store_.queue_row(name);
    bool done = !after;
    Json range = Json::object();
    const Json from = Json::parse(b.progress_text, "progress_json of background update '" + name + "'");
    range.set("from", from);
    if (after) range.set("to", Json::parse(after->progress_json, "progress_json of background update '" + name + "'"));
    else range.set_null("to");
    range.set("batch_size", b.batch_size);
    // A batch that did nothing and left the progress where it was: after
    // kStalledBatchesBeforeHold such batches in a row the update is held (a
    // handler that never ends would otherwise run empty batches for ever).
    std::optional<std::string> stalled;
    if (items == 0 && after && Json::parse(after->progress_json, "progress_json").dump() == from.dump() &&
        store_.consecutive_stalled_batches(name, kStalledBatchesBeforeHold - 1) >= kStalledBatchesBeforeHold - 1) {
        int64_t hold_ms = std::max<int64_t>(b.stall_hold_ms, 1);
        stalled = "made no progress in its last " + std::to_string(kStalledBatchesBeforeHold) +
                  " batches (0 items each, progress unchanged): does its handler end the update (end_update, or "
                  "batch_end(..., done => true))? Trying again in " + std::to_string(hold_ms) + " ms";
    }
    store_.add_batch_record(name, st.batches, items, duration, range.dump());
    // Read inside the batch, before it commits, while its WAL is being
    // written: sessions waiting on the locks it holds, and sessions waiting
    // for WAL flushes (after the batch's own commit flush, fewer are).
    std::vector<std::string> in_batch;
    if (check_health_ && !done) {
        if (b.hold_on_blocked) in_batch.push_back(signal::kBlockedSessions);
        if (b.max_wal_flush_waiters > 0) in_batch.push_back(signal::kWalFlushWaiters);
    }
    std::vector<HealthReading> in_batch_readings;
    if (!in_batch.empty()) in_batch_readings = engine_.read_health({name, b.table, b.identity, in_batch, ""});
    // Sessions waiting on the locks this batch holds: commit (that frees
    // them), halve the next batch and pause for as long as this one took.
    std::optional<std::string> blocked;
    for (auto& r : in_batch_readings)
        if (r.signal == signal::kBlockedSessions && r.value > 0) {
            int64_t half = std::max(b.min_batch_size, b.batch_size / 2);
            st.size_cap = half;
            st.hold_reason = std::to_string(static_cast<int64_t>(r.value)) +
                             " session(s) waited on locks held by the last batch; next batch " +
                             std::to_string(half) + " rows [bgupdate.health_hold_on_blocked_sessions]";
            st.hold_until_ms = wall_clock_ms() + std::max<int64_t>(1, static_cast<int64_t>(duration));
            blocked = st.hold_reason;
        }
    // Commits waiting longer for their WAL flushes: past half the limit the
    // next batch waits as long as this one took (health_pacing), past it the
    // update is on hold for health_hold_ms.
    bool wal_slow = false;
    for (auto& r : in_batch_readings) {
        if (r.signal != signal::kWalFlushWaiters) continue;
        Settings limit;
        limit.health_max_wal_flush_waiters = b.max_wal_flush_waiters;
        HealthVerdict v = judge_health({r}, limit);
        wal_slow = v.level == HealthLevel::Slow;
        if (v.level == HealthLevel::Hold && !blocked) {
            st.hold_reason = v.reason;
            st.hold_until_ms = wall_clock_ms() + std::max<int64_t>(b.health_hold_ms, 1);
            store_.add_history(name, "on_hold", st, v.reason);
            blocked = v.reason;
        }
    }
    if (done) {
        st.completed_at = b.now;
        store_.add_history(name, "complete", st, "");
    }
    if (stalled && !blocked) {
        st.hold_reason = *stalled;
        st.hold_until_ms = wall_clock_ms() + std::max<int64_t>(b.stall_hold_ms, 1);
        store_.add_history(name, "on_hold", st, *stalled);
        blocked = stalled;
    }
    store_.save_state(st);
    bool all_done = done && store_.queue_size() == 0;
    if (!scope_.callers_transaction) engine_.commit_batch();  // else the application commits
    if (b.starting) engine_.log_event("background update '" + name + "' started");
    if (resumed && !blocked) engine_.log_event("background update '" + name + "' resumed");
    if (done) engine_.log_event("background update '" + name + "' completed: " + std::to_string(st.perf.total_items) +
                                " items in " + std::to_string(st.batches) + " batches");

    StepOutcome out;
    out.update_name = name;
    out.items = items;
    out.duration_ms = duration;
    out.batch_size = b.batch_size;
    out.done = done;
    out.all_done = all_done;
    out.slow = b.health.level == HealthLevel::Slow || wal_slow;
    if (blocked) {
        out.on_hold = blocked;
        out.retry_in_ms = std::max<int64_t>(1, st.hold_until_ms - wall_clock_ms());
    }
    return out;
}

// ---- the application-run batch protocol ----

void refuse_end_update_inside(const std::optional<ApplicationBatch>& open, const std::string& update_name) {
    if (open && open->claimed.row.update_name == update_name)
        fail(ErrorKind::NotNow, "background update '" + update_name + "' has a batch open on this connection",
             "end it with batch_end(items, progress, done => true) instead of end_update()");
}

StepOutcome Runner::begin_application_batch(std::optional<ApplicationBatch>& slot) {
    if (slot)
        fail(ErrorKind::NotNow, "a batch of background update '" + slot->claimed.row.update_name +
                                    "' is already open on this connection",
             "end it with batch_end() (or batch_fail()) before beginning another");
    Settings settings = settings_for_run();
    StepOutcome out;
    auto chosen = choose(settings, out);
    if (!chosen) return out;
    const std::string name = chosen->row.update_name;
    try {
        CurrentBatch marker(name);  // its hooks and health checks run inside the batch
        ApplicationBatch open{*chosen, start_batch(*chosen, settings), settings, steady_ms()};
        slot = std::move(open);
    } catch (const HoldRequest& hold) {
        // A health check holds it: nothing ran; the application is told as step() tells it.
        if (!scope_.callers_transaction) try { engine_.rollback_batch(); } catch (...) {}
        release_claims(engine_, name);
        return record_hold(name, settings, hold.reason);
    } catch (const CallerCancel&) {
        if (!scope_.callers_transaction) try { engine_.rollback_batch(); } catch (...) {}
        release_claims(engine_, name);
        throw;
    } catch (const Error& e) {
        if (!scope_.callers_transaction) try { engine_.rollback_batch(); } catch (...) {}
        StepOutcome failed = failed_batch(*chosen, settings, e);
        try { engine_.release_table(); } catch (...) {}
        engine_.release_update(name);
        return failed;
    }
    out.update_name = name;
    out.batch_size = slot->start.batch_size;
    return out;
}

StepOutcome Runner::end_application_batch(std::optional<ApplicationBatch>& slot, int64_t items,
                                          const std::optional<std::string>& progress_json, bool done) {
    if (!slot) fail(ErrorKind::NotNow, "no batch is open on this connection", "call batch_begin() first");
    ApplicationBatch open = std::move(*slot);
    slot.reset();
    const std::string name = open.claimed.row.update_name;
    // PostgreSQL keeps the claim until the application's transaction ends
    // (its binding releases it then): no one may start the same batch before
    // this one's work is committed.
    std::optional<ClaimGuard> claim;
    if (!scope_.callers_transaction) claim.emplace(engine_, name);
    if (!scope_.callers_transaction && !engine_.batch_is_open())
        return failed_batch(open.claimed, open.settings,
                            Error(ErrorKind::Failure, "the batch's transaction ended (the application rolled it back or "
                                                      "committed it) before batch_end(): its progress was not saved"));
    auto record = [&] {
        if (items < 0) bad_input("batch_end(items): items must not be negative, got " + std::to_string(items));
        if (progress_json) {
            Json::parse_object(*progress_json, "progress_json of background update '" + name + "'");
            store_.save_progress(name, *progress_json);
        }
        if (done) store_.remove_from_queue(name);
        return commit_batch(name, open.start, items, steady_ms() - open.started_ms);
    };
    // PostgreSQL: an error aborts the application's transaction, and the
    // binding records the failure once that rollback is done.
    if (scope_.callers_transaction) return record();
    try {
        return record();
    } catch (const Error& e) {
        try { engine_.rollback_batch(); } catch (...) {}
        return failed_batch(open.claimed, open.settings, e);
    }
}

StepOutcome Runner::record_abandoned_batch(const ApplicationBatch& open, const std::string& message) {
    return failed_batch(open.claimed, open.settings, Error(ErrorKind::Failure, message));
}

StepOutcome Runner::fail_application_batch(std::optional<ApplicationBatch>& slot, const std::string& message) {
    if (!slot) fail(ErrorKind::NotNow, "no batch is open on this connection", "call batch_begin() first");
    ApplicationBatch open = std::move(*slot);
    slot.reset();
    ClaimGuard claim(engine_, open.claimed.row.update_name);
    try { engine_.rollback_batch(); } catch (...) {}
    return failed_batch(open.claimed, open.settings,
                        Error(ErrorKind::Failure, message.empty() ? "the application reported a failure" : message));
}

void Runner::record_lost_batch(const std::string& name, const std::string& message) {
    record_failure(name, message, load_settings(engine_), true);
}

UpdateState Runner::record_failure(const std::string& name, const std::string& message, const Settings& settings,
                                   bool counts_as_failure, const std::string& history_detail) {
    return in_batch(engine_, settings, [&] {
        UpdateState st = store_.state_locked(name);
        st.update_name = name;
        st.last_error = message;
        st.updated_at = iso_timestamp_now();
        int64_t exponent;
        if (counts_as_failure) {
            st.attempts++;
            st.total_failures++;
            st.failed = st.attempts >= settings.max_failures;
            exponent = st.attempts - 1;
            store_.add_history(name, st.failed ? "failed" : "failure", st,
                               history_detail.empty() ? message : history_detail);
        } else {
            exponent = 0;  // lock timeouts back off but never count towards failed
        }
        int64_t backoff = settings.retry_backoff_ms;
        for (int64_t i = 0; i < exponent && backoff < settings.max_backoff_ms; ++i) backoff *= 2;
        st.next_attempt_at_ms = wall_clock_ms() + std::min(backoff, settings.max_backoff_ms);
        store_.save_state(st);
        return st;
    });
}

std::optional<ClaimedUpdate> Runner::read_claimed(const std::string& name) {
    auto row = store_.queue_row(name);
    if (!row) return std::nullopt;
    ClaimedUpdate c;
    c.row = *row;
    c.registration = store_.registration(name);
    c.state = store_.state(name);
    c.state.update_name = name;
    return c;
}

StepOutcome Runner::run_named(const std::string& name, const Settings& settings) {
    try {
        engine_.begin_batch(settings.lock_timeout_ms, settings.statement_timeout_ms);
    } catch (const Error& e) {
        if (e.kind() != ErrorKind::LockTimeout) throw;
        StepOutcome out;
        out.lock_timeout = true;  // another connection holds the write lock: try again shortly
        return out;
    }
    std::optional<ClaimedUpdate> claimed;
    try {
        // Which unit (the update, or one of its partitions) to claim is
        // decided from what is read now; the batch itself starts from what is
        // read again under the claim.
        auto row = store_.queue_row(name);
        if (!row) {
            engine_.commit_batch();
            StepOutcome out;
            out.done = true;
            return out;
        }
        std::optional<WorkUnit> unit = claim_some_unit(engine_, name, units_of(store_.registration(name), *row));
        if (!unit) {
            engine_.commit_batch();
            StepOutcome out;
            out.busy_elsewhere = true;  // another runner has it: wait for it
            return out;
        }
        claimed = read_claimed(name);
        if (!claimed) {
            release_claims(engine_, claim_key(name, *unit));
            engine_.commit_batch();
            StepOutcome out;
            out.done = true;  // completed by another runner meanwhile
            return out;
        }
        claimed->unit = *unit;
    } catch (...) {
        try { engine_.rollback_batch(); } catch (...) {}
        throw;
    }
    return guarded(*claimed, settings);
}

namespace {

constexpr int64_t kWaitPollMs = 200;        // finish() looks at another runner's progress this often
constexpr int64_t kWaitNoticeMs = 10000;    // and tells the person waiting this often

std::string progress_words(const UpdateState& st) {
    std::string out = std::to_string(st.batches) + " batches, " + std::to_string(st.perf.total_items) + " items done";
    if (st.total_estimate && *st.total_estimate > 0) {
        double pct = std::min(100.0, 100.0 * static_cast<double>(st.perf.total_items) / static_cast<double>(*st.total_estimate));
        char buf[32];
        std::snprintf(buf, sizeof buf, " (about %.0f%%)", pct);
        out += buf;
    }
    return out;
}

}  // namespace

// finish() of an update another runner has (the worker, or another session):
// wait until it leaves the queue, telling the caller how it goes. Gives up
// with an error naming the update and its state when waiting cannot help.
void Runner::wait_for_other_runner(const std::string& name, const std::string& asked, const std::string& why,
                                   double deadline_ms) {
    double next_notice = 0;
    for (;;) {
        if (!store_.queue_row(name)) return;
        UpdateState st = store_.state(name);
        if (st.failed)
            fail(ErrorKind::NotNow, "background update '" + name + "' failed while finish('" + asked + "') waited for it (" +
                                        st.last_error.value_or("") + "); call retry('" + name + "') first");
        if (st.paused)
            fail(ErrorKind::NotNow, "background update '" + name + "' was paused while finish('" + asked +
                                        "') waited for it; its owner must resume('" + name + "') it");
        if (engine_.holds_lock_the_runner_needs(name))
            fail(ErrorKind::NotNow,
                 "finish('" + asked + "') would wait for ever: the runner of background update '" + name +
                     "', or a background worker holding its table, waits for this transaction (a lock it holds, "
                     "or CREATE INDEX CONCURRENTLY, which waits for every older transaction)",
                 "call finish() in a transaction of its own, before changing the update's table");
        double now = steady_ms();
        if (now >= deadline_ms)
            fail(ErrorKind::Canceled, "finish('" + asked + "') timed out waiting for background update '" + name +
                                          "' (" + why + "): " + progress_words(st) +
                                          (st.last_error ? "; last error: " + *st.last_error : std::string()));
        if (now >= next_notice) {
            engine_.notice("finish('" + asked + "'): waiting for background update '" + name + "' (" + why + "): " +
                           progress_words(st));
            next_notice = now + kWaitNoticeMs;
        }
        int64_t pause = std::min<int64_t>(kWaitPollMs, std::max<int64_t>(1, static_cast<int64_t>(deadline_ms - now)));
        if (!engine_.sleep_ms(pause)) fail(ErrorKind::Canceled, "finish('" + asked + "') was interrupted");
    }
}

void Runner::finish(const std::string& name, std::optional<int64_t> timeout_ms) {
    if (timeout_ms && *timeout_ms < 0)
        bad_input("finish(timeout_ms): timeout_ms must not be negative, got " + std::to_string(*timeout_ms));
    Settings settings = settings_for_run();
    const double deadline = timeout_ms ? steady_ms() + static_cast<double>(*timeout_ms)
                                       : std::numeric_limits<double>::infinity();
    // finish() guarantees completion now (a deploy waits on it): health
    // checks do not hold it; the work is still batched and paced by the controller.
    check_health_ = false;
    std::set<std::string> visiting;
    std::string current = name;
    for (;;) {
        // An error about an update it depends on names the update asked for too:
        // the caller asked to finish that one.
        try {
            auto row = store_.queue_row(current);
            if (!row) {
                if (current == name) return;
                current = name;  // a dependency finished: go back to the update asked for
                visiting.clear();
                continue;
            }
            // Finish what it depends on first.
            if (row->depends_on && store_.queue_row(*row->depends_on)) {
                if (!visiting.insert(current).second || visiting.count(*row->depends_on))
                    bad_input("dependency cycle among background updates involving '" + current + "'");
                current = *row->depends_on;
                continue;
            }
            // Another role's registration is hidden from this one: ask who owns the name.
            if (scope_.only_manageable) {
                if (auto owner = store_.owner_of(current); owner && !engine_.may_manage(*owner))
                    fail(ErrorKind::PermissionDenied, "permission denied to run background update '" + current + "'");
            }
            UpdateState st = store_.state(current);
            auto reg = store_.registration(current);
            Runnability r = assess_update(engine_, scope_, reg ? &*reg : nullptr, st, wall_clock_ms(), true);
            if (r.blocker == Blocker::Failed)
                fail(r.error_kind(), "background update '" + current + "' is marked failed (" + st.last_error.value_or("") +
                                         "); call retry('" + current + "') first");
            if (r.blocker == Blocker::OtherRole) {
                // Its code never runs in this session: the worker runs it, and this call waits.
                if (handler_kind_traits(reg->kind).application_protocol)
                    fail(ErrorKind::NotNow, "background update '" + current + "' belongs to " + r.detail +
                                                " and is run by the application (batch_begin()/batch_end()): finish() "
                                                "cannot run it, and no worker will",
                         "wait for it with has_completed('" + current + "')");
                if (st.paused) fail(ErrorKind::NotNow, r.reason(current) + ", and it is paused: its owner must resume('" + current + "') it");
                if (!settings.enabled)
                    fail(ErrorKind::NotNow, r.reason(current) + ", and the background runners are switched off (set_enabled(false))");
                if (needs_top_level_statements(reg->kind, engine_.dialect()))
                    fail(ErrorKind::NotNow, r.reason(current) + "; it builds an index concurrently, which waits for every "
                                            "older transaction, this one included",
                         "wait for it with has_completed('" + current + "') polled outside a transaction (or `bgupdate wait`)");
                std::string unavailable = engine_.background_runner_unavailable();
                if (!unavailable.empty()) fail(ErrorKind::NotNow, r.reason(current) + ", but " + unavailable);
                wait_for_other_runner(current, name, "it belongs to " + r.detail + ", so the background worker runs it",
                                      deadline);
                continue;
            }
            if (!r.runnable()) fail(r.error_kind(), r.reason(current));
            StepOutcome out = run_named(current, settings);
            if (out.error) throw Error(out.error_kind, *out.error, out.error_sqlstate, out.error_detail, out.error_hint);
            if (out.busy_elsewhere) {
                wait_for_other_runner(current, name, "another runner is on it", deadline);
                continue;
            }
            if (out.lock_timeout && !engine_.sleep_ms(kLockRetryPauseMs)) fail(ErrorKind::Canceled, "finish('" + name + "') was interrupted");
        } catch (const CallerCancel&) {
            throw;
        } catch (const Error& e) {
            if (current == name) throw;
            throw Error(e.kind(), "finish('" + name + "') depends on '" + current + "': " + e.what(), e.sqlstate(),
                        e.detail(), e.hint());
        }
    }
}

RunSummary Runner::run(int64_t max_ms) {
    if (max_ms < 0) bad_input("run(max_ms): max_ms must not be negative, got " + std::to_string(max_ms));
    double deadline = steady_ms() + static_cast<double>(max_ms);
    RunSummary sum;
    for (;;) {
        Settings settings = settings_for_run();
        StepOutcome out;
        try {
            out = step_with(settings);
        } catch (const CallerCancel&) {
            throw;
        } catch (const Error& e) {
            sum.failures++;  // a dependency cycle, or the queue could not be read
            sum.last_error = e.what();
            break;
        }
        if (out.error) {
            sum.failures++;
            sum.last_error = *out.error;
            if (steady_ms() >= deadline) break;
            continue;  // recorded with backoff; other updates go on
        }
        sum.parallel_width = std::max(sum.parallel_width, out.parallel_width);
        double remaining = deadline - steady_ms();
        if (out.disabled) { sum.disabled = true; break; }
        if (out.all_done) { sum.all_done = true; }
        if (out.update_name && !out.lock_timeout && !(out.on_hold && out.items == 0 && out.batch_size == 0)) {
            sum.batches++;
            sum.items = saturating_add(sum.items, out.items);
            if (out.done) sum.completed++;
        }
        if (out.lock_timeout) sum.lock_timeouts++;
        if (sum.all_done) break;
        int64_t pause = 0;
        if (out.update_name && !out.lock_timeout) {
            // The pacing pause after a batch is owed even past the deadline;
            // a hold's wait is not (other updates may run meanwhile).
            int64_t paced = pacing_pause_ms(out, settings);
            if (remaining <= 0 || paced > remaining) {  // the next batch is due after this run: the caller waits
                sum.next_batch_in_ms = paced;
                break;
            }
            pause = std::min<int64_t>(pause_after_batch_ms(out, settings), static_cast<int64_t>(remaining));
        } else if (remaining <= 0) {
            break;
        } else if (!out.update_name && out.lock_timeout) {
            pause = std::min<int64_t>(kLockRetryPauseMs, static_cast<int64_t>(remaining));  // the writer may finish soon
        } else if (!out.update_name) {
            sum.retry_pending = out.retry_in_ms.has_value();
            if (!out.retry_in_ms || *out.retry_in_ms > remaining) break;  // nothing more can run in time
            pause = *out.retry_in_ms;
        } else {
            pause = std::min<int64_t>(pause_after_batch_ms(out, settings), static_cast<int64_t>(remaining));
        }
        if (pause > 0 && !engine_.sleep_ms(pause)) break;
        if (!engine_.keep_going()) break;  // the worker must stop (shutdown, postmaster gone)
    }
    return sum;
}

std::string RunSummary::to_json() const {
    Json j = Json::object();
    j.set("batches", batches);
    j.set("items", items);
    j.set("completed", completed);
    j.set("failures", failures);
    j.set("lock_timeouts", lock_timeouts);
    j.set_bool("all_done", all_done);
    j.set("parallel_width", static_cast<int64_t>(parallel_width));
    if (retry_pending) j.set_bool("retry_pending", true);
    if (next_batch_in_ms > 0) j.set("next_batch_in_ms", next_batch_in_ms);
    if (disabled) j.set_bool("enabled", false);
    // An empty message was never reported (as before: only a non-empty one).
    if (last_error && !last_error->empty()) j.set("last_error", *last_error);
    return j.dump();
}

int64_t pacing_pause_ms(const StepOutcome& out, const Settings& settings) {
    return settings.health_pacing ? (out.slow ? static_cast<int64_t>(out.duration_ms) : 0)
                                  : (settings.sleep_enabled ? settings.sleep_duration_ms : 0);
}

int64_t pause_after_batch_ms(const StepOutcome& out, const Settings& settings) {
    int64_t pause = pacing_pause_ms(out, settings);
    if (out.on_hold && out.retry_in_ms) pause = std::max(pause, *out.retry_in_ms);  // sessions were blocked
    return pause;
}

}  // namespace bgupdate
