// One row of the status view/table-valued function, and how its derived
// figures (percent, rates, ETA) are computed from stored state.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "sql_surface.h"

namespace bgupdate {

struct StatusRow {
    std::string update_name;
    std::string state;  // pending, running, on_hold, paused, backing_off, waiting, failed, complete
    std::optional<int64_t> ordering;
    std::optional<std::string> depends_on;
    int64_t batches = 0;
    int64_t items_done = 0;
    std::optional<int64_t> total_estimate;
    std::optional<double> percent;
    std::optional<double> avg_items_per_ms;    // EMA-based, what the controller uses
    std::optional<double> total_items_per_ms;  // all items / all batch time
    std::optional<int64_t> batch_size;         // size of the last batch
    std::optional<double> eta_seconds;
    int64_t attempts = 0;  // back-to-back failures so far
    std::optional<std::string> last_error;
    std::optional<std::string> started_at, updated_at, completed_at;
    std::optional<std::string> hold_reason, hold_until;  // on_hold: why, and until when (ISO time)
    // total_estimate (and so percent and ETA) is a guess from the table's size:
    // PostgreSQL has no statistics for it yet (never analyzed).
    bool estimate_is_rough = false;
};

// Stored counters that the derived figures come from.
struct StatusInputs {
    int64_t items_done = 0;
    std::optional<int64_t> total_estimate;
    double avg_items = 0, avg_duration_ms = 0, total_duration_ms = 0;
    bool complete = false;
    bool sleep_enabled = true;
    int64_t sleep_duration_ms = 1000;
    double target_duration_ms = 100;  // what the controller sizes the next batches to
    int64_t min_batch_size = 1;
};

struct StatusFigures {
    std::optional<double> percent, avg_items_per_ms, total_items_per_ms, eta_seconds;
};

StatusFigures compute_status_figures(const StatusInputs& in);

// One cell of the status view: the field of a StatusRow that column `col`
// (sql::kStatusColumns' order) shows, typed as that table declares it. Both
// bindings build their rows from these, so a column is added in one place.
struct StatusCell {
    sql::Type type = sql::Type::Text;
    bool is_null = true;
    const std::string* text = nullptr;  // Text, Timestamp: the row's own string
    int64_t integer = 0;                // BigInt, Boolean (0 or 1)
    double real = 0;                    // Real
};
StatusCell status_cell(const StatusRow& row, int col);

}  // namespace bgupdate
