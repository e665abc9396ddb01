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

namespace {

StatusCell cell(int col) { return StatusCell{sql::kStatusColumns[col].type}; }
StatusCell cell(int col, const std::string& v) {
    StatusCell c = cell(col);
    c.is_null = false;
    c.text = &v;
    return c;
}
StatusCell cell(int col, const std::optional<std::string>& v) { return v ? cell(col, *v) : cell(col); }
StatusCell cell(int col, const std::optional<int64_t>& v) {
    StatusCell c = cell(col);
    c.is_null = !v;
    c.integer = v.value_or(0);
    return c;
}
StatusCell cell(int col, const std::optional<double>& v) {
    StatusCell c = cell(col);
    c.is_null = !v;
    c.real = v.value_or(0);
    return c;
}

}  // namespace

StatusCell status_cell(const StatusRow& r, int col) {
    using sql::status_column;
    switch (col) {
        case status_column("update_name"): return cell(col, r.update_name);
        case status_column("state"): return cell(col, r.state);
        case status_column("ordering"): return cell(col, r.ordering);
        case status_column("depends_on"): return cell(col, r.depends_on);
        case status_column("batches"): return cell(col, std::optional<int64_t>(r.batches));
        case status_column("items_done"): return cell(col, std::optional<int64_t>(r.items_done));
        case status_column("total_estimate"): return cell(col, r.total_estimate);
        case status_column("percent"): return cell(col, r.percent);
        case status_column("avg_items_per_ms"): return cell(col, r.avg_items_per_ms);
        case status_column("total_items_per_ms"): return cell(col, r.total_items_per_ms);
        case status_column("batch_size"): return cell(col, r.batch_size);
        case status_column("eta_seconds"): return cell(col, r.eta_seconds);
        case status_column("attempts"): return cell(col, std::optional<int64_t>(r.attempts));
        case status_column("last_error"): return cell(col, r.last_error);
        case status_column("started_at"): return cell(col, r.started_at);
        case status_column("updated_at"): return cell(col, r.updated_at);
        case status_column("completed_at"): return cell(col, r.completed_at);
        case status_column("hold_reason"): return cell(col, r.hold_reason);
        case status_column("hold_until"): return cell(col, r.hold_until);
        case status_column("estimate_is_rough"): return cell(col, std::optional<int64_t>(r.estimate_is_rough ? 1 : 0));
        default: break;
    }
    // Every column of the table has a case above; a new one without its field is a programming error.
    return StatusCell{sql::Type::None};
}

}  // namespace bgupdate
