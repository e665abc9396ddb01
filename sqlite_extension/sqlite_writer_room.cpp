#include "sqlite_writer_room.h"

#include <algorithm>

namespace bgupdate_sqlite {

int64_t WriterRoom::busy_poll_interval_ms(int64_t waited_ms) {
    // sqliteDefaultBusyCallback's delays (HAVE_USLEEP builds).
    static const int64_t delays[] = {1, 2, 5, 10, 15, 20, 25, 25, 25, 50, 50, 100};
    int64_t total = 0;
    for (int64_t d : delays) {
        if (total + d > waited_ms) return d;
        total += d;
    }
    return 100;
}

int64_t WriterRoom::gap_before_batch(int64_t now_ms, int64_t data_version) {
    if (first_batch_ms_ < 0) {
        first_batch_ms_ = now_ms;
        last_gap_ms_ = now_ms;  // quiet probes count from the loop's start
    }
    if (!committed_) {
        if (baseline_ && data_version != data_version_) {
            seen_foreign_ = true;
            last_foreign_ms_ = now_ms;
        }
        data_version_ = data_version;
        return 0;
    }
    if (data_version != data_version_) {  // someone else committed since our last commit
        seen_foreign_ = true;
        last_foreign_ms_ = now_ms;
        data_version_ = data_version;
    }
    int64_t since_commit = now_ms - last_commit_ms_;
    const int64_t probe = busy_poll_interval_ms(1000) + kMarginMs;  // reaches a writer polling every 100 ms
    if (since_commit >= probe) last_gap_ms_ = now_ms;  // the caller paused long enough by itself
    int64_t wanted = 0;
    if (active(now_ms)) wanted = busy_poll_interval_ms(last_hold_ms_) + kMarginMs;
    else if (now_ms - last_gap_ms_ >= kQuietProbeEveryMs) wanted = probe;
    int64_t wait = std::max<int64_t>(0, wanted - since_commit);
    if (wanted >= probe) last_gap_ms_ = now_ms + wait;
    return wait;
}

void WriterRoom::after_commit(int64_t now_ms, int64_t data_version, int64_t hold_ms) {
    // Our own commits leave data_version alone: a change since
    // gap_before_batch is a writer that got in during the gap we left.
    if ((committed_ || baseline_) && data_version != data_version_) {
        seen_foreign_ = true;
        last_foreign_ms_ = now_ms;
    }
    committed_ = true;
    commits_++;
    last_commit_ms_ = now_ms;
    last_hold_ms_ = std::max<int64_t>(0, hold_ms);
    data_version_ = data_version;
}

}  // namespace bgupdate_sqlite
