// Bounds one statement of a batch's user code (the handler, its SQL
// fragments, a hook) by statement_timeout_ms. PostgreSQL arms
// statement_timeout only for a client's statement and never in a background
// worker, so the timer is armed here, around each such statement only: the
// extension's own queries in a batch (queue, state, health checks) are not
// cancelled by it. In the worker the watchdog's hard limit is armed with it.
// In a session the caller's own statement timer (its statement_timeout on
// the statement that called step() or finish()) is kept: the earlier of the
// two is armed, and the caller's is put back afterwards.
#pragma once

#include <cstdint>

#include "pg_headers.h"

namespace bgupdate_pg {

class StatementTimer {
public:
    // ms <= 0: no limit (nothing is armed). May throw bgupdate::Error.
    StatementTimer(int64_t ms, bool worker);
    ~StatementTimer();  // never throws
    StatementTimer(const StatementTimer&) = delete;
    StatementTimer& operator=(const StatementTimer&) = delete;

    // After a 57014: whether it came from this timer (its time had come),
    // rather than from a cancel request or the caller's own timeout.
    bool expired() const;

private:
    bool armed_ = false, worker_ = false;
    bool caller_timer_ = false;        // the caller had a statement timer running
    TimestampTz caller_finish_ = 0;    // ... ending then
    TimestampTz finish_ = 0;           // ours
};

}  // namespace bgupdate_pg
