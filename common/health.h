// Health checks: whether the database is healthy enough for the next batch.
// Engines read the signals (Engine::read_health: replica lag, vacuum on the
// table, archive backlog, WAL size, ...); this file decides from them, with
// the thresholds of Settings, whether an update runs, slows down or goes on
// hold, and caches a green verdict for a short interval so that back-to-back
// batches do not pay for the checks each time.
//
// A check that cannot be read (an error, a hook that raises) holds the update
// ("fails closed", as Spirit does): not knowing whether a standby is keeping
// up is treated like knowing it is not. A hold spends no attempt, so a broken
// check never marks an update failed; status shows the error as the reason.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "engine.h"
#include "settings.h"

namespace bgupdate {

enum class HealthLevel {
    Green,  // run at full speed
    Slow,   // a signal is past half its limit: pace (health_pacing) instead of running back to back
    Hold,   // a signal is past its limit: the update goes on hold
};

struct HealthVerdict {
    HealthLevel level = HealthLevel::Green;
    std::string reason;  // why (empty when green)
};

// Signal names an engine may be asked for (HealthRequest::signals).
namespace signal {
constexpr const char* kReplicaLagMs = "replica_lag_ms";
constexpr const char* kReplicaLagMb = "replica_lag_mb";
constexpr const char* kSlotRetainedMb = "slot_retained_mb";
constexpr const char* kVacuum = "vacuum";  // vacuums running on the table
constexpr const char* kArchiveReady = "archive_ready";
constexpr const char* kXminAgeS = "xmin_age_s";
constexpr const char* kWalMb = "wal_mb";
constexpr const char* kBlockedSessions = "blocked_sessions";  // read inside a batch, before commit
// Other sessions waiting for WAL to be written or flushed (locally or by a
// synchronous standby), on average over a few milliseconds: by Little's law,
// commits per second times how long each waits for its flush. Read before a
// batch (a hold stays held) and inside it, before commit, while its WAL is
// being flushed (right after the runner's own commit flush, fewer wait).
constexpr const char* kWalFlushWaiters = "wal_flush_waiters";
constexpr const char* kHook = "hook";  // the reading's detail is the hook's reason
}  // namespace signal

// The signals that Settings turn on (the hook is asked for separately, through HealthRequest::hook).
std::vector<std::string> wanted_signals(const Settings& s);

// Pure decision: readings against thresholds. The worst signal wins; its
// reason names the reading, the limit and the setting that sets it.
// `growth` (by signal) is how much a reading rose since the previous check
// with a batch in between: a reading that would pass its limit at the next
// check (reading + growth) holds already, and one that would pass half of it
// is slow. That keeps a signal the batches themselves drive (a standby's
// replay lag, WAL kept for a slot) under its limit instead of one batch over.
HealthVerdict judge_health(const std::vector<HealthReading>& readings, const Settings& s,
                           const std::map<std::string, double>& growth = {});

// Reads (engine) and judges the signals for one update, with each signal's
// growth since the last check of the same database, table and update. A
// green verdict is reused for health_check_interval_ms; a slow one is not
// (past half a limit, every batch looks again); a hold is persisted by the
// runner. Never throws: an error is a Hold verdict naming it.
HealthVerdict check_health(Engine& engine, const Settings& s, const std::string& update_name,
                           const std::string& table, const Identity& owner = {});

// Forget cached verdicts (tests).
void clear_health_cache();

}  // namespace bgupdate
