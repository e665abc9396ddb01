// Derived status figures: percent, rates and ETA from the stored counters.
#include <gtest/gtest.h>

#include "status.h"

using bgupdate::compute_status_figures;
using bgupdate::StatusInputs;

namespace {

// Batches of 100 items in 100 ms (1 item/ms), 1000 of 2000 items done, no sleep.
StatusInputs halfway() {
    StatusInputs in;
    in.items_done = 1000;
    in.total_estimate = 2000;
    in.avg_items = 100;
    in.avg_duration_ms = 100;
    in.total_duration_ms = 2000;
    in.sleep_enabled = false;
    return in;
}

}  // namespace

TEST(StatusFigures, Percent) {
    auto f = compute_status_figures(halfway());
    ASSERT_TRUE(f.percent.has_value());
    EXPECT_DOUBLE_EQ(*f.percent, 50.0);
}

TEST(StatusFigures, PercentUnknownWithoutEstimate) {
    auto in = halfway();
    in.total_estimate.reset();
    auto f = compute_status_figures(in);
    EXPECT_FALSE(f.percent.has_value());
    EXPECT_FALSE(f.eta_seconds.has_value());
    in.total_estimate = 0;
    EXPECT_FALSE(compute_status_figures(in).percent.has_value());
}

TEST(StatusFigures, PercentBelowHundredUntilComplete) {
    // The estimate may be low: an unfinished update never shows 100 %.
    auto in = halfway();
    in.items_done = 5000;
    auto f = compute_status_figures(in);
    ASSERT_TRUE(f.percent.has_value());
    EXPECT_LT(*f.percent, 100.0);
    EXPECT_GT(*f.percent, 99.0);
    in.complete = true;
    f = compute_status_figures(in);
    EXPECT_DOUBLE_EQ(*f.percent, 100.0);
    ASSERT_TRUE(f.eta_seconds.has_value());
    EXPECT_DOUBLE_EQ(*f.eta_seconds, 0.0);
}

TEST(StatusFigures, Rates) {
    auto in = halfway();
    in.avg_items = 30;
    in.avg_duration_ms = 60;
    auto f = compute_status_figures(in);
    ASSERT_TRUE(f.avg_items_per_ms.has_value());
    EXPECT_DOUBLE_EQ(*f.avg_items_per_ms, 0.5);  // EMA items / EMA duration
    ASSERT_TRUE(f.total_items_per_ms.has_value());
    EXPECT_DOUBLE_EQ(*f.total_items_per_ms, 0.5);  // 1000 items / 2000 ms
}

TEST(StatusFigures, NoRatesBeforeAnyTime) {
    StatusInputs in;
    auto f = compute_status_figures(in);
    EXPECT_FALSE(f.avg_items_per_ms.has_value());
    EXPECT_FALSE(f.total_items_per_ms.has_value());
    EXPECT_FALSE(f.eta_seconds.has_value());
    EXPECT_FALSE(f.percent.has_value());
}

TEST(StatusFigures, EtaWithoutSleep) {
    // 1000 items left in batches of 100 taking 100 ms: 10 batches, 1 s.
    auto f = compute_status_figures(halfway());
    ASSERT_TRUE(f.eta_seconds.has_value());
    EXPECT_NEAR(*f.eta_seconds, 1.0, 1e-9);
}

TEST(StatusFigures, EtaCountsSleepBetweenBatches) {
    // Same 10 batches, each followed by a 1000 ms sleep: 11 s.
    auto in = halfway();
    in.sleep_enabled = true;
    in.sleep_duration_ms = 1000;
    auto f = compute_status_figures(in);
    ASSERT_TRUE(f.eta_seconds.has_value());
    EXPECT_NEAR(*f.eta_seconds, 11.0, 1e-9);
}

TEST(StatusFigures, EtaNeverNegative) {
    auto in = halfway();
    in.items_done = 3000;  // past a low estimate
    auto f = compute_status_figures(in);
    if (f.eta_seconds) {
        EXPECT_GE(*f.eta_seconds, 0.0);
    }
}

TEST(StatusFigures, EtaUsesTheControllersNextBatchSizeNotTheFirstBatch) {
    // A first batch of 100 items took 0.1 ms (1000 items/ms); the controller's
    // next batches hold 100 ms x 1000 = 100,000 items. With 999,900 items left
    // and a 1 s sleep: ~1 s of work plus 10 sleeps, not 9,999 sleeps.
    StatusInputs in;
    in.items_done = 100;
    in.total_estimate = 1000000;
    in.avg_items = 10;           // EMA after one batch of 100
    in.avg_duration_ms = 0.01;   // EMA after one batch of 0.1 ms
    in.total_duration_ms = 0.1;
    in.sleep_enabled = true;
    in.sleep_duration_ms = 1000;
    auto f = compute_status_figures(in);
    ASSERT_TRUE(f.eta_seconds.has_value());
    EXPECT_NEAR(*f.eta_seconds, 0.9999 + 10.0, 1e-6);
}
