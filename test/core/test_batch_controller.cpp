// Batch sizing, with the numbers of Synapse's own tests
// (tests/storage/test_background_update.py): each fake item there takes
// 10 ms, so a first batch of 100 items takes 1000 ms.
#include <gtest/gtest.h>

#include "batch_controller.h"

using bgupdate::BatchLimits;
using bgupdate::BatchPerformance;
using bgupdate::next_batch_size;

namespace {

BatchLimits limits(double target_ms, int64_t default_size = 100, int64_t min_size = 1) {
    BatchLimits l;
    l.target_duration_ms = target_ms;
    l.default_batch_size = default_size;
    l.min_batch_size = min_size;
    return l;
}

}  // namespace

TEST(BatchController, DefaultsAreSynapses) {
    BatchLimits l;
    EXPECT_EQ(l.target_duration_ms, 100);
    EXPECT_EQ(l.default_batch_size, 100);
    EXPECT_EQ(l.min_batch_size, 1);
}

TEST(BatchController, FirstBatchUsesDefaultSize) {
    BatchPerformance perf;
    EXPECT_FALSE(perf.items_per_ms().has_value());
    EXPECT_EQ(next_batch_size(perf, limits(100)), 100);
    EXPECT_EQ(next_batch_size(perf, limits(100, 20)), 20);  // default_batch_size: 20 in the config
}

TEST(BatchController, BatchOfNothingStillUsesDefaultSize) {
    // No item processed yet: no rate to go by.
    BatchPerformance perf;
    perf.record(0, 50);
    EXPECT_FALSE(perf.items_per_ms().has_value());
    EXPECT_EQ(next_batch_size(perf, limits(100, 20)), 20);
}

TEST(BatchController, SecondBatchSizedToTarget100ms) {
    BatchPerformance perf;
    perf.record(100, 1000);
    ASSERT_TRUE(perf.items_per_ms().has_value());
    EXPECT_DOUBLE_EQ(*perf.items_per_ms(), 0.1);
    EXPECT_EQ(next_batch_size(perf, limits(100)), 10);
}

TEST(BatchController, SecondBatchSizedToTarget500ms) {
    BatchPerformance perf;
    perf.record(100, 1000);
    EXPECT_EQ(next_batch_size(perf, limits(500)), 50);
}

TEST(BatchController, MinBatchSizeIsAFloor) {
    // min_batch_size 5; the first 100 items took 5000 ms, so 100 ms fits 2.
    BatchPerformance perf;
    perf.record(100, 5000);
    EXPECT_EQ(next_batch_size(perf, limits(100, 100, 5)), 5);
    EXPECT_EQ(next_batch_size(perf, limits(100, 100, 1)), 2);
}

TEST(BatchController, ExponentialMovingAverageOverSeveralBatches) {
    BatchPerformance perf;
    perf.record(100, 1000);  // averages start at 0: 10 items, 100 ms
    EXPECT_DOUBLE_EQ(perf.avg_items, 10);
    EXPECT_DOUBLE_EQ(perf.avg_duration_ms, 100);
    perf.record(50, 1000);  // 10 + 0.1*(50-10) = 14; 100 + 0.1*(1000-100) = 190
    EXPECT_DOUBLE_EQ(perf.avg_items, 14);
    EXPECT_DOUBLE_EQ(perf.avg_duration_ms, 190);
    perf.record(200, 10);  // 14 + 18.6 = 32.6; 190 - 18 = 172
    EXPECT_NEAR(perf.avg_items, 32.6, 1e-9);
    EXPECT_NEAR(perf.avg_duration_ms, 172, 1e-9);
    EXPECT_EQ(perf.total_items, 350);
    EXPECT_DOUBLE_EQ(perf.total_duration_ms, 2010);
    EXPECT_NEAR(*perf.items_per_ms(), 32.6 / 172, 1e-12);
    EXPECT_EQ(next_batch_size(perf, limits(100)), 18);    // int(18.95...)
    EXPECT_EQ(next_batch_size(perf, limits(1000)), 189);  // int(189.5...)
}

TEST(BatchController, ZeroDurationFallsBackToMinimum) {
    // Synapse: a zero average duration gives a rate of 0, so the minimum size.
    BatchPerformance perf;
    perf.record(100, 0);
    ASSERT_TRUE(perf.items_per_ms().has_value());
    EXPECT_EQ(*perf.items_per_ms(), 0);
    EXPECT_EQ(next_batch_size(perf, limits(100, 100, 1)), 1);
    EXPECT_EQ(next_batch_size(perf, limits(100, 100, 7)), 7);
}

TEST(BatchController, HugeRateDoesNotOverflow) {
    BatchPerformance perf;
    perf.record(INT64_MAX / 2, 1e-300);
    EXPECT_GT(next_batch_size(perf, limits(100)), 0);
}
