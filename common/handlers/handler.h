// What every handler kind implements: run one batch of an update inside the
// batch transaction the runner opened, save progress or complete the update.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "../api_types.h"
#include "../engine.h"
#include "../json.h"
#include "../store.h"

namespace bgupdate {

class Registrar;
class RegistrationArguments;

struct BatchContext {
    Engine& engine;
    Store& store;
    const std::string& update_name;
    const std::string& progress_json;  // as stored in the queue
    const Json& progress;              // parsed, always an object
    int64_t batch_size;
    // The partition this batch works on (work_units.h), "" for the update as
    // a whole. Runners work on different partitions of one update side by
    // side: such a batch reads the progress afresh and merges its part back
    // (partitioned_scan.h) instead of using `progress`.
    std::string partition = "";
    // Set by a handler that knows better what the update's rows are (a
    // fixed key range): the runner stores it as the update's total estimate.
    std::optional<int64_t> total_estimate = std::nullopt;

    void save_progress(const Json& p) { store.save_progress(update_name, p.dump()); }
    // Take the update off the queue: the runner then records it complete.
    void complete() { store.remove_from_queue(update_name); }
};

// Thrown by a handler whose batch must be undone but whose progress must
// still change (validation found a bad row: rescan from the start). The
// runner rolls the batch back and saves `progress_json` in a fresh one.
struct ProgressReset {
    std::string progress_json;
    std::string reason;
};

class Handler {
public:
    virtual ~Handler() = default;
    // Runs one batch; returns the number of items processed.
    virtual int64_t run_batch(BatchContext& ctx) = 0;
    // Rows the whole update will process, when it can be known cheaply
    // (the runner takes it once, at the update's first batch).
    virtual std::optional<int64_t> estimate_total(Engine&) { return std::nullopt; }
    // Whether that figure is estimated from a sample of the table rather
    // than its statistics (PostgreSQL, a table never analyzed).
    virtual bool estimate_is_rough(Engine&) { return false; }
};

// Build the handler for a registration (spec_json as written at registration).
std::unique_ptr<Handler> make_handler(const Registration& reg);

// The kinds' own factories and registrations are declared where the one
// table of kinds names them (handler_kinds.cpp). Some kinds also offer their
// registration with arguments already read, for C++ callers (the Api, tests):
void register_generic_update(Registrar& registrar, const std::string& update_name, const std::string& function);
void register_validate_and_delete_rows(Registrar& registrar, const std::string& update_name, const std::string& table,
                                       const std::string& constraint_name, const std::string& constraint_json,
                                       const std::vector<std::string>& unique_columns, const KeyRangeArgs& range);
void register_batched_update(Registrar& registrar, const BatchedUpdateArgs& args);

// The row estimate of a table (Dialect::row_estimate_sql), if known.
std::optional<int64_t> table_rows(Engine& engine, const std::string& table);
// Whether the table has statistics to estimate from (Dialect::has_statistics_sql).
bool table_has_statistics(Engine& engine, const std::string& table);

// Spec accessors shared by the handlers (registration wrote these fields).
std::string spec_string(const Json& spec, const char* key);
std::optional<std::string> spec_optional_string(const Json& spec, const char* key);
std::vector<std::string> spec_string_list(const Json& spec, const char* key);

}  // namespace bgupdate
