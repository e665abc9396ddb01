// WriterRoom: the gap a SQLite batch loop leaves for writers waiting in
// SQLite's sleep-and-poll busy handler.
#include <gtest/gtest.h>

#include "sqlite_writer_room.h"

using bgupdate_sqlite::WriterRoom;

TEST(WriterRoom, BusyHandlerSchedule) {
    EXPECT_EQ(WriterRoom::busy_poll_interval_ms(0), 1);
    EXPECT_EQ(WriterRoom::busy_poll_interval_ms(2), 2);
    EXPECT_EQ(WriterRoom::busy_poll_interval_ms(100), 25);   // slept 78 so far; the next sleeps are 25
    EXPECT_EQ(WriterRoom::busy_poll_interval_ms(150), 50);
    EXPECT_EQ(WriterRoom::busy_poll_interval_ms(10000), 100);
}

// Other connections committing: after every batch, a gap as long as the
// busy handler's poll interval after waiting through that batch's lock hold.
TEST(WriterRoom, ActiveWritersGetAGapAfterEveryBatch) {
    WriterRoom room;
    room.set_baseline(0, 10);
    EXPECT_EQ(room.gap_before_batch(5000, 11), 0);  // first batch: nothing to leave room after
    EXPECT_TRUE(room.active(5000));                 // but a writer committed since the connection started
    room.after_commit(5100, 11, 100);
    EXPECT_EQ(room.gap_before_batch(5100, 11), 27);  // 25 + margin
    room.after_commit(5327, 11, 200);
    EXPECT_EQ(room.gap_before_batch(5327, 12), 52);  // a longer hold: the writer polls every 50 ms by then
    room.after_commit(5500, 12, 100);
    EXPECT_EQ(room.gap_before_batch(5510, 12), 17);  // the caller already paused 10 ms
    room.after_commit(5610, 12, 100);
    EXPECT_EQ(room.gap_before_batch(5700, 12), 0);   // paused longer than the gap by itself
}

// Nobody else writes: back to back (as fast as one UPDATE), except a probe
// gap now and then that reaches a writer polling every 100 ms.
TEST(WriterRoom, QuietLoopRunsBackToBackWithRareProbes) {
    WriterRoom room;
    room.set_baseline(0, 7);
    int64_t now = 10000;
    EXPECT_EQ(room.gap_before_batch(now, 7), 0);
    int64_t slept = 0, probes = 0;
    for (int i = 0; i < 100; i++) {  // 100 batches of 100 ms, no other writer
        now += 100;
        room.after_commit(now, 7, 100);
        int64_t gap = room.gap_before_batch(now, 7);
        if (i < WriterRoom::kStartupBatches) {
            EXPECT_EQ(gap, 27);  // no evidence yet: treated as active
        } else if (gap > 0) {
            EXPECT_EQ(gap, 102);
            probes++;
        }
        slept += gap;
        now += gap;
    }
    EXPECT_FALSE(room.active(now));
    // About one probe every two seconds of work: about 5% of the time.
    EXPECT_GE(probes, 3);
    EXPECT_LE(probes, 6);
    EXPECT_LE(slept * 100, (now - 10000) * 6);
}

TEST(WriterRoom, StartupCountsAsActiveThenQuiet) {
    WriterRoom room;
    room.set_baseline(0, 3);
    EXPECT_EQ(room.gap_before_batch(1000, 3), 0);
    room.after_commit(1001, 3, 1);
    EXPECT_EQ(room.gap_before_batch(1001, 3), 4);   // first batches: no evidence yet (2 + margin)
    room.after_commit(1054, 3, 50);
    EXPECT_EQ(room.gap_before_batch(1054, 3), 22);  // (20 + margin)
    room.after_commit(1400, 3, 100);
    EXPECT_EQ(room.gap_before_batch(1400, 3), 0);   // nobody came: quiet
}

TEST(WriterRoom, WriterSeenInAGapKeepsTheLoopActive) {
    WriterRoom room;
    room.set_baseline(0, 1);
    room.gap_before_batch(9700, 1);
    for (int i = 0; i < WriterRoom::kStartupBatches; i++) room.after_commit(9800, 1, 100);
    room.after_commit(10100, 1, 300);
    EXPECT_EQ(room.gap_before_batch(10100, 1), 0);   // quiet (past the first batches)
    room.after_commit(10200, 1, 100);
    EXPECT_EQ(room.gap_before_batch(10300, 2), 0);   // someone committed while we paused: active now
    EXPECT_TRUE(room.active(10300));
    room.after_commit(10400, 2, 100);
    EXPECT_EQ(room.gap_before_batch(10400, 2), 27);
    EXPECT_TRUE(room.active(10400 + WriterRoom::kActiveWindowMs - 200));
    EXPECT_FALSE(room.active(10300 + WriterRoom::kActiveWindowMs + 1));
}

// The usual case: the writer gets in during the gap we leave, so its commit
// shows up between gap_before_batch and our next commit.
TEST(WriterRoom, WriterThatGotInDuringOurGapIsSeen) {
    WriterRoom room;
    room.set_baseline(0, 5);
    room.gap_before_batch(10000, 5);
    for (int i = 0; i < WriterRoom::kStartupBatches; i++) room.after_commit(10000, 5, 100);
    room.after_commit(10400, 5, 100);
    EXPECT_EQ(room.gap_before_batch(10400, 5), 0);   // quiet
    EXPECT_FALSE(room.active(10400));
    room.after_commit(10500, 6, 100);                // a writer committed during our (short) gap
    EXPECT_TRUE(room.active(10500));
    EXPECT_EQ(room.gap_before_batch(10500, 6), 27);
    room.after_commit(10627, 7, 100);                // and again in that gap
    EXPECT_EQ(room.gap_before_batch(10627 + WriterRoom::kActiveWindowMs - 10, 7), 0);  // caller paused long
    EXPECT_TRUE(room.active(10627 + WriterRoom::kActiveWindowMs - 10));
}
