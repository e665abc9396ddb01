// Reads and writes of the extension's own tables: the queue (Synapse's
// background_updates), the handler registry, per-update state and history.
// All SQL for them lives here, written through Dialect.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "batch_controller.h"
#include "dialect.h"
#include "engine.h"
#include "handler_kind.h"

namespace bgupdate {


struct QueueRow {
    std::string update_name;
    std::string progress_json;
    std::optional<std::string> depends_on;
    int64_t ordering = 0;
};

struct Registration {
    std::string update_name;
    HandlerKind kind = HandlerKind::Generic;
    std::string spec_json;  // the handler's arguments, as a JSON object
    Identity identity;
};

// What the extension remembers about an update beyond the queue row.
struct UpdateState {
    std::string update_name;
    bool exists = false;  // false: no row stored yet (defaults below)
    bool paused = false, failed = false;
    int64_t attempts = 0, total_failures = 0;
    std::optional<std::string> last_error;
    int64_t next_attempt_at_ms = 0;  // wall clock, epoch ms; backoff after a failure
    int64_t batches = 0;
    BatchPerformance perf;  // items done = perf.total_items
    std::optional<int64_t> total_estimate, batch_size, ordering;
    std::optional<std::string> depends_on;
    std::optional<std::string> started_at, updated_at, completed_at;
    // On hold (health checks): why, and until when (epoch ms). The reason
    // stays until a batch runs again, so status shows it after the time too.
    std::optional<std::string> hold_reason;
    int64_t hold_until_ms = 0;
    // A cap on the next batch after a timeout or a blocked session (halved
    // each time, doubled back after each good batch); nullopt: no cap.
    std::optional<int64_t> size_cap;
};

// What pause(), resume() and retry() change in an update's state, and nothing else.
enum class StateChange {
    Pause,       // paused = true
    Unpause,     // paused = false
    Unfail,      // failed = false, attempts = 0
    EndBackoff,  // next_attempt_at_ms = 0
    EndHold,     // hold_until_ms = 0
};

// The columns the store selects from each own table, by name
// (test/core/test_store_schema.cpp checks them against store_schema.h).
std::vector<std::pair<OwnTable, std::vector<std::string>>> columns_the_store_reads();

int64_t wall_clock_ms();
std::string iso_timestamp(int64_t epoch_ms);  // "2026-11-26T05:00:00.000Z"
std::string iso_timestamp_now();

class Store {
public:
    explicit Store(Engine& engine) : engine_(engine), d_(engine.dialect()) {}

    std::vector<QueueRow> queue();
    std::optional<QueueRow> queue_row(const std::string& update_name);
    // The queue row, locked until the batch ends: runners on different
    // partitions of one update merge their progress one after the other.
    std::optional<QueueRow> queue_row_locked(const std::string& update_name);
    void enqueue(const QueueRow& row);
    void save_progress(const std::string& update_name, const std::string& progress_json);
    // Removes the queue row and marks the state complete; false if it was not queued.
    bool remove_from_queue(const std::string& update_name);
    int64_t queue_size();

    std::optional<Registration> registration(const std::string& update_name);
    // The owner of a name (registered or queued), whoever may read its rows:
    // nullopt when the name is free, "" when the owner is unknown or dropped.
    std::optional<std::string> owner_of(const std::string& update_name);
    std::vector<Registration> registrations();
    void save_registration(const Registration& reg);

    // reset(): drops the update's definition and state and empties its
    // progress (its queue row, history and name stay).
    void forget(const std::string& update_name);

    UpdateState state(const std::string& update_name);
    // The state row, locked until the batch ends (see queue_row_locked).
    UpdateState state_locked(const std::string& update_name);
    std::vector<UpdateState> states();
    void save_state(const UpdateState& st);
    // Writes only the columns these changes name (a state row is created
    // with defaults when there is none).
    void change_state(const std::string& update_name, const std::vector<StateChange>& changes);

    // Lifecycle events (complete, failure, failed) with the update's totals.
    void add_history(const std::string& update_name, const std::string& event, const UpdateState& st,
                     const std::string& detail);
    // One "batch" row: this batch's number, items and duration, and detail
    // {"from": progress before, "to": progress after (null: it completed)}.
    // Only the newest kHistoryBatchRowsKept batch rows of an update are kept.
    void add_batch_record(const std::string& update_name, int64_t batch_number, int64_t items, double duration_ms,
                          const std::string& detail_json);
    static constexpr int64_t kHistoryBatchRowsKept = 1000;
    // How many of the newest `limit` batch rows of an update, newest first,
    // did nothing in a row: 0 items and the progress left where it was.
    int64_t consecutive_stalled_batches(const std::string& update_name, int64_t limit);

    // Names of the columns of a user table (empty when the table is missing).
    std::vector<std::string> table_columns(const std::string& table);

private:
    UpdateState state_from_row(const Row& r);
    Engine& engine_;
    const Dialect& d_;
};

}  // namespace bgupdate
