#include "batch_controller.h"

namespace bgupdate {

static constexpr double kAlpha = 0.1;  // Synapse's smoothing factor

void BatchPerformance::record(int64_t items, double duration_ms) {
    total_items += items;
    total_duration_ms += duration_ms;
    avg_items += kAlpha * (static_cast<double>(items) - avg_items);
    avg_duration_ms += kAlpha * (duration_ms - avg_duration_ms);
}

std::optional<double> BatchPerformance::items_per_ms() const {
    if (total_items == 0) return std::nullopt;  // nothing measured yet: use the default size
    if (avg_duration_ms == 0) return 0.0;
    return avg_items / avg_duration_ms;
}

int64_t next_batch_size(const BatchPerformance& perf, const BatchLimits& limits) {
    auto rate = perf.items_per_ms();
    int64_t size;
    if (!rate) {
        size = limits.default_batch_size;
    } else {
        double wanted = limits.target_duration_ms * *rate;
        // Guard the int conversion: a huge rate must not overflow.
        size = wanted >= 9.0e18 ? INT64_MAX : static_cast<int64_t>(wanted);
    }
    if (limits.max_batch_size > 0 && size > limits.max_batch_size) size = limits.max_batch_size;
    return size < limits.min_batch_size ? limits.min_batch_size : size;
}

}  // namespace bgupdate
