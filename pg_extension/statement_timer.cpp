#include "statement_timer.h"

#include "batch_watchdog.h"
#include "error_boundary.h"

namespace bgupdate_pg {

StatementTimer::StatementTimer(int64_t ms, bool worker) : worker_(worker) {
    if (ms <= 0) return;
    bool* caller_timer = &caller_timer_;
    TimestampTz* caller_finish = &caller_finish_;
    TimestampTz* finish = &finish_;
    pg_guard([&] {
        *finish = TimestampTzPlusMilliseconds(GetCurrentTimestamp(), ms);
        *caller_timer = get_timeout_active(STATEMENT_TIMEOUT);
        if (*caller_timer) *caller_finish = get_timeout_finish_time(STATEMENT_TIMEOUT);
        if (!*caller_timer || *finish < *caller_finish) enable_timeout_at(STATEMENT_TIMEOUT, *finish);
        if (worker) watchdog_arm(ms);
    });
    armed_ = true;
}

StatementTimer::~StatementTimer() {
    if (!armed_) return;
    try {
        bool caller_timer = caller_timer_, worker = worker_;
        TimestampTz caller_finish = caller_finish_;
        pg_guard([&] {
            disable_timeout(STATEMENT_TIMEOUT, false);
            // The caller's timer goes on as if nothing had happened (already
            // past: it fires at the caller's next interrupt check).
            if (caller_timer) enable_timeout_at(STATEMENT_TIMEOUT, caller_finish);
            if (worker) watchdog_disarm();
        });
    } catch (...) {
        // Disarming cannot fail in practice; a destructor must not throw.
    }
}

bool StatementTimer::expired() const { return armed_ && GetCurrentTimestamp() >= finish_; }

}  // namespace bgupdate_pg
