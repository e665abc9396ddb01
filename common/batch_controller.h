// Batch-size autotuning, Synapse's algorithm: exponential moving averages
// (alpha 0.1) of items and duration per batch; the first batch uses the
// default size, later ones max(int(target_ms * items_per_ms), min_batch_size).
#pragma once

#include <cstdint>
#include <optional>

namespace bgupdate {

struct BatchPerformance {
    int64_t total_items = 0;
    double total_duration_ms = 0;
    double avg_items = 0;        // EMA of items per batch
    double avg_duration_ms = 0;  // EMA of batch duration

    void record(int64_t items, double duration_ms);
    // nullopt before any item was processed; 0 when the average duration is 0.
    std::optional<double> items_per_ms() const;
};

struct BatchLimits {
    double target_duration_ms = 100;
    int64_t default_batch_size = 100;
    int64_t min_batch_size = 1;
    int64_t max_batch_size = 0;  // 0: no cap; a cap below the minimum loses to the minimum
};

int64_t next_batch_size(const BatchPerformance& perf, const BatchLimits& limits);

}  // namespace bgupdate
