#include "status.h"

#include <algorithm>
#include <cmath>

namespace bgupdate {

StatusFigures compute_status_figures(const StatusInputs& in) {
    StatusFigures f;
    if (in.complete) f.percent = 100.0;
    else if (in.total_estimate && *in.total_estimate > 0)
        f.percent = std::min(99.9, 100.0 * static_cast<double>(in.items_done) / static_cast<double>(*in.total_estimate));
    if (in.avg_duration_ms > 0) f.avg_items_per_ms = in.avg_items / in.avg_duration_ms;
    if (in.total_duration_ms > 0) f.total_items_per_ms = static_cast<double>(in.items_done) / in.total_duration_ms;
    if (in.complete) {
        f.eta_seconds = 0.0;
    } else if (f.avg_items_per_ms && *f.avg_items_per_ms > 0 && in.total_estimate) {
        // Work left at the measured rate, plus a sleep after each batch of the
        // size the controller will choose next (not the size of past batches:
        // the first one is small by design).
        double rate = *f.avg_items_per_ms;
        double remaining = std::max<double>(0, static_cast<double>(*in.total_estimate - in.items_done));
        double next_batch = std::max(in.target_duration_ms * rate, static_cast<double>(std::max<int64_t>(1, in.min_batch_size)));
        double sleep_ms = in.sleep_enabled ? static_cast<double>(in.sleep_duration_ms) : 0;
        double batches_left = std::ceil(remaining / next_batch);  // a sleep comes before each
        f.eta_seconds = (remaining / rate + batches_left * sleep_ms) / 1000.0;
    }
    return f;
}

}  // namespace bgupdate
