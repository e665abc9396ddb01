// Runs batches: picks the next update (scheduler), sizes the batch (batch
// controller), runs its handler in one atomic batch with its progress and
// state, records failures with backoff, and paces a run loop.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "api_types.h"
#include "engine.h"
#include "errors.h"
#include "health.h"
#include "json.h"
#include "runnability.h"
#include "settings.h"
#include "store.h"
#include "work_units.h"

namespace bgupdate {

struct StepOutcome {
    std::optional<std::string> update_name;  // nullopt: nothing ran
    int64_t items = 0;
    double duration_ms = 0;
    int64_t batch_size = 0;
    bool done = false;      // this update finished
    bool all_done = false;  // the queue is empty
    bool lock_timeout = false;
    bool disabled = false;
    std::optional<int64_t> retry_in_ms;  // nothing runnable now; earliest backoff ends then
    // Nothing ran: each queued update that cannot run now, and why.
    std::vector<std::pair<std::string, Runnability>> blocked;
    // The batch failed and was rolled back; the failure is recorded. Reported,
    // not raised: on PostgreSQL raising would roll the record back with the
    // caller's transaction, and max_failures could never be reached.
    std::optional<std::string> error;
    ErrorKind error_kind = ErrorKind::Failure;
    std::string error_sqlstate, error_detail, error_hint;
    bool failed = false;  // this failure marked the update failed (max_failures reached)
    // Health: the update went on hold (why; retry_in_ms says when it looks
    // again), or a check is past half its limit (health pacing slows down).
    std::optional<std::string> on_hold;
    bool slow = false;
    std::optional<int64_t> shrunk_to;  // a timed-out batch is retried at this size
    bool busy_elsewhere = false;  // run_named: another runner holds the update's claim
    // How many runnable updates could run side by side now (distinct tables;
    // see target_table.h): a PostgreSQL worker asks for a helper when > 1.
    int parallel_width = 0;

    // SPEC's JSON object of step(), for the SQL functions that return it.
    std::string to_json() const;
};

// What run() did: its batches and the failures it recorded, and for a
// PostgreSQL worker whether to ask for a helper or keep its slot.
struct RunSummary {
    int64_t batches = 0, items = 0, completed = 0, failures = 0, lock_timeouts = 0;
    bool all_done = false;
    int parallel_width = 0;      // most updates that could run side by side at once (ask for a helper when > 1)
    bool retry_pending = false;  // nothing ran, but a backoff ends soon: keep the slot
    bool disabled = false;       // switched off (set_enabled(false))
    // The pause after the last batch (sleep_duration_ms, health pacing) would
    // outlast max_ms: run() returned without it, and the next batch is due
    // this many ms from now. A caller that runs again sooner (the worker's
    // one-second slices, an application's loop) must wait it out first, or
    // batches run closer together than the pacing says.
    int64_t next_batch_in_ms = 0;
    std::optional<std::string> last_error;

    // The JSON summary that run() reports, for the SQL functions.
    std::string to_json() const;
};

// The update a runner claimed, with what the scheduling pass already read
// about it in the same transaction (so the batch does not read it again).
struct ClaimedUpdate {
    QueueRow row;
    std::optional<Registration> registration;
    UpdateState state;
    WorkUnit unit;  // the update as a whole, or the partition claimed (work_units.h)
};

// What the start of a batch decided: the state to update, the parsed
// progress, the batch size, and the batch's timestamp.
struct BatchStart {
    UpdateState state;
    Json progress;
    std::string progress_text;  // as read under the claim: the history's "from"
    int64_t batch_size = 0;
    int64_t controller_size = 0, min_batch_size = 1;  // before a shrink's cap; the floor
    std::string now;
    bool starting = false;  // its first batch
    HealthVerdict health;
    std::string table;
    Identity identity;
    bool hold_on_blocked = false;  // settings.health_hold_on_blocked_sessions
    int64_t max_wal_flush_waiters = 0;  // settings.health_max_wal_flush_waiters (0: off)
    int64_t health_hold_ms = 0;
    int64_t stall_hold_ms = 0;     // how long a batch-after-batch standstill is held (max_backoff_ms)
    // Other runners may be on other partitions of this update at the same
    // time: its totals are read again, locked, when this batch commits.
    bool side_by_side = false;
};

// A batch the application runs itself, open between batch_begin() and
// batch_end() on one connection (the binding keeps it with the connection).
struct ApplicationBatch {
    ClaimedUpdate claimed;
    BatchStart start;
    Settings settings;
    double started_ms = 0;  // steady clock
};

// end_update() of the update whose application batch is open here would
// record its completion twice: batch_end(items, progress, done) says it.
void refuse_end_update_inside(const std::optional<ApplicationBatch>& open, const std::string& update_name);

class Runner {
public:
    Runner(Engine& engine, RunScope scope) : engine_(engine), store_(engine), scope_(scope) {}

    // One batch of the next runnable update (an update with no registered
    // handler is not runnable yet). A failed batch is recorded and reported
    // in the outcome; throws when a dependency cycle blocks everything.
    StepOutcome step();
    // Batches until the queue is empty or max_ms passed; failures are recorded, not thrown.
    RunSummary run(int64_t max_ms);
    // Runs `name` and what it depends on to completion now; waits (at most
    // timeout_ms, when given) where another runner has an update.
    void finish(const std::string& name, std::optional<int64_t> timeout_ms = std::nullopt);
    // One batch of `name` itself, now (estimate's trial batch, inside a batch it rolls back).
    StepOutcome step_named(const std::string& name) { return run_named(name, load_settings(engine_)); }
    // A batch that ended outside the runner's hands (its process was
    // terminated) counts as a failed attempt, with backoff.
    void record_lost_batch(const std::string& name, const std::string& message);

    // The application-run protocol (scope.application_batch): open the next
    // batch of an update the application runs itself, holding its claim and
    // the open transaction in `slot`; then end it (commit, with the items and
    // new progress, or done) or fail it (roll back, record the failure).
    StepOutcome begin_application_batch(std::optional<ApplicationBatch>& slot);
    StepOutcome end_application_batch(std::optional<ApplicationBatch>& slot, int64_t items,
                                      const std::optional<std::string>& progress_json, bool done);
    StepOutcome fail_application_batch(std::optional<ApplicationBatch>& slot, const std::string& message);
    // PostgreSQL: the application's transaction ended without batch_end()
    // (rolled back, or committed without it): record the failure now.
    StepOutcome record_abandoned_batch(const ApplicationBatch& open, const std::string& message);

private:
    // The settings a run uses, refused when they contradict each other.
    Settings settings_for_run();
    StepOutcome step_with(const Settings& settings);
    // The claim protocol's second half: the queue row, definition and state
    // of an update this runner has just claimed, read under the claim (so it
    // sees another runner's last committed batch); nullopt when it left the queue.
    std::optional<ClaimedUpdate> read_claimed(const std::string& name);
    void wait_for_other_runner(const std::string& name, const std::string& asked, const std::string& why,
                               double deadline_ms);
    // Opens a batch and picks and claims the next runnable update; nullopt
    // (batch closed, `out` says why: disabled, lock timeout, waiting) when none can run.
    std::optional<ClaimedUpdate> choose(const Settings& settings, StepOutcome& out);
    BatchStart start_batch(const ClaimedUpdate& claimed, const Settings& settings);
    // Records a successful batch's totals and history and commits it.
    StepOutcome commit_batch(const std::string& name, BatchStart& start, int64_t items, double duration_ms);
    StepOutcome run_named(const std::string& name, const Settings& settings);
    // Inside an open batch: one batch of a claimed update.
    StepOutcome run_claimed(const ClaimedUpdate& claimed, const Settings& settings);
    StepOutcome guarded(const ClaimedUpdate& claimed, const Settings& settings);
    StepOutcome failed_batch(const ClaimedUpdate& claimed, const Settings& settings, const Error& e);
    // Records a failed or lock-timed-out batch in its own batch; returns the new state.
    // `history_detail`: what the history row of a counted failure records.
    UpdateState record_failure(const std::string& name, const std::string& message, const Settings& settings,
                               bool counts_as_failure, const std::string& history_detail = "");
    BatchLimits limits_for(const std::string& name, const Settings& settings);
    // A timed-out batch: halve the next one (no attempt spent) unless it was
    // already at the minimum; returns the outcome, or nullopt to count it as a failure.
    std::optional<StepOutcome> shrink_after_timeout(const std::string& name, const Settings& settings,
                                                    const Error& e);
    StepOutcome record_hold(const std::string& name, const Settings& settings, const std::string& reason);

    Engine& engine_;
    Store store_;
    RunScope scope_;
    bool check_health_ = true;  // finish() runs regardless of health
    // The batch being run (for shrinking it after a timeout).
    int64_t batch_size_now_ = 0, min_batch_size_now_ = 1;
};

// The pacing after a batch: Synapse's sleep, or with health_pacing none
// while green and the batch's own duration when slow.
int64_t pacing_pause_ms(const StepOutcome& out, const Settings& settings);

// How long a run loop waits after a batch: its pacing, or longer when the
// batch put its update on hold (the hold's wait).
int64_t pause_after_batch_ms(const StepOutcome& out, const Settings& settings);

}  // namespace bgupdate
