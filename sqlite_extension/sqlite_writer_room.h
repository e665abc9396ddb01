// Room for the application's writers between bgupdate's batches on SQLite.
//
// SQLite has one writer at a time, and a connection that finds the database
// locked does not queue: its busy handler sleeps and polls (the default
// handler behind sqlite3_busy_timeout, which most drivers use, sleeps 1, 2,
// 5, 10, 15, 20, 25, 25, 25, 50, 50, then 100 ms). A loop that begins its
// next batch the moment it commits therefore always wins the lock, and a
// writer waits until a poll happens to land in a gap (measured: 8 writes
// in 1.1 s). So before a batch that follows our own commit closely we leave a
// gap long enough that a writer which started waiting during the previous
// batch polls inside it: the busy handler's interval at the elapsed time
// of that batch's lock hold, plus a margin (27 ms after a 100 ms batch).
//
// Waiting writers cannot be seen directly (they hold nothing while they
// sleep), but their commits can: PRAGMA data_version changes when another
// connection commits. While other writers committed recently the gap
// follows every batch ("active"); with none for a while ("quiet") batches
// run back to back, as fast as one UPDATE, except for a probe gap now and
// then long enough for a writer in the handler's 100 ms polling phase, so a
// writer that starts during a quiet stretch waits at most about
// kQuietProbeEveryMs before it gets in (and makes the loop active). The
// first kStartupBatches batches of a loop count as active (no evidence yet).
// Only used between batches that commit (autocommit); a batch inside the
// caller's transaction cannot let anyone in anyway.
#pragma once

#include <cstdint>

namespace bgupdate_sqlite {

class WriterRoom {
public:
    static constexpr int64_t kActiveWindowMs = 2000;   // other writers seen this recently: active
    static constexpr int64_t kQuietProbeEveryMs = 2000;  // quiet: a probe gap this often (~5% of the time)
    static constexpr int64_t kMarginMs = 2;
    // A loop that starts right after the connection loaded bgupdate has no
    // evidence yet either way: its first batches (small ones: the controller
    // starts at default_batch_size) are followed by gaps, so writers already
    // waiting get in and are seen.
    static constexpr int kStartupBatches = 2;

    // The default busy handler's sleep when it has waited `waited_ms` so far.
    static int64_t busy_poll_interval_ms(int64_t waited_ms);

    // PRAGMA data_version when the connection started using bgupdate: a
    // change before our first batch means other writers are active already.
    void set_baseline(int64_t now_ms, int64_t data_version) {
        baseline_ = true;
        data_version_ = data_version;
        last_gap_ms_ = now_ms;
    }
    // Before BEGIN: how long to wait first. `data_version` is PRAGMA
    // data_version now; `now_ms` a steady clock.
    int64_t gap_before_batch(int64_t now_ms, int64_t data_version);
    // After our COMMIT: `hold_ms` is how long the batch held the write lock.
    void after_commit(int64_t now_ms, int64_t data_version, int64_t hold_ms);

    bool active(int64_t now_ms) const {
        return (seen_foreign_ && now_ms - last_foreign_ms_ <= kActiveWindowMs) || commits_ <= kStartupBatches;
    }

private:
    bool committed_ = false, baseline_ = false;
    int64_t last_commit_ms_ = 0, last_hold_ms_ = 0, data_version_ = 0;
    bool seen_foreign_ = false;
    int64_t last_foreign_ms_ = 0;
    int64_t last_gap_ms_ = 0;
    int64_t first_batch_ms_ = -1;
    int commits_ = 0;  // when the last gap (or probe) of at least a poll interval ended
};

}  // namespace bgupdate_sqlite
