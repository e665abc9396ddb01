// Whether a queued update can run now, and if not, why: the one place that
// decides it. The runner's scheduling pass (step/run), finish() and status
// all ask here, so they never disagree.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "api_types.h"
#include "errors.h"
#include "engine.h"
#include "scheduler.h"
#include "store.h"

namespace bgupdate {

enum class Blocker {
    None,
    Paused,
    Failed,           // max_failures reached: waits for retry()
    NoHandler,        // enqueued before its handler was registered
    NotPermitted,     // the caller may not manage its owner's objects
    OtherRole,        // another role's update: only the worker runs it, never a user's session
    NeedsApplication, // a generic handler, and this runner has no application functions
    NeedsWorker,      // needs statements outside a transaction this runner cannot run
    RunByApplication, // the application runs it with batch_begin()/batch_end(), not step()
    Untrusted,        // SQLite, trusted_schema OFF: the application has not registered it on this connection
    FunctionNotAllowed, // calls an application function the application has not allowed on this connection
    RunsItself,       // batch_begin(): a declarative or generic update, run by step(), run() or a worker
    BackingOff,       // after a failure or lock timeout, until next_attempt_at_ms
    OnHold,           // a health check said stop, until hold_until_ms (detail: the reason)
    Dependency,       // depends on an update still queued
    Cycle,            // part of a dependency cycle
};

struct Runnability {
    Blocker blocker = Blocker::None;
    int64_t until_ms = 0;  // BackingOff, OnHold: wall-clock epoch ms when it may run again
    std::string detail;    // Dependency: the update waited for; Cycle: "a -> b -> a"; OnHold: why

    bool runnable() const { return blocker == Blocker::None; }
    // Stable machine-readable name ("backing_off"); empty when runnable.
    const char* code() const;
    // The kind of error to raise when someone insists (finish()).
    ErrorKind error_kind() const;
    // A sentence for people, naming what to do about it.
    std::string reason(const std::string& update_name) const;
};

// One update on its own (no dependencies): registration may be null.
// `by_name`: finish() asked for this update, which runs it even when paused
// or backing off.
Runnability assess_update(Engine& engine, const RunScope& scope, const Registration* registration,
                          const UpdateState& state, int64_t now_ms, bool by_name = false);

// The whole queue as one runner sees it now.
struct QueueAssessment {
    std::map<std::string, Runnability> updates;  // every queued update
    SchedulePlan plan;                            // runnable ones in order, dependency waits, cycles
    std::optional<int64_t> earliest_retry_ms;     // from now, over the updates backing off or on hold
};

QueueAssessment assess_queue(Engine& engine, const RunScope& scope, const std::vector<QueueRow>& queue,
                             const std::map<std::string, UpdateState>& states,
                             const std::map<std::string, Registration>& registrations, int64_t now_ms);

}  // namespace bgupdate
