// The SQL-facing operations of SPEC, engine-agnostic. Each engine binding
// converts its arguments, calls one of these, and converts the result or the
// bgupdate::Error back. Nothing here knows which engine it runs on except
// through Engine and Dialect.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "api_types.h"
#include "engine.h"
#include "handler_kind.h"
#include "runner.h"  // the typed results: StepOutcome, RunSummary; ApplicationBatch
#include "status.h"

namespace bgupdate {

class Api {
public:
    explicit Api(Engine& engine) : engine_(engine) {}

    // SQLite only: create own tables when missing. Cheap to call repeatedly.
    void ensure_schema();

    // Registration (persisted in the registry table): an update of `kind`,
    // its arguments read and checked by the kind's registration
    // (handler_kind.h), as the caller.
    void register_update(HandlerKind kind, const RegistrationArguments& args);
    // The same for C++ callers, with arguments already read.
    void register_update_handler(const std::string& update_name, const std::string& function);
    void register_validate_constraint_and_delete_rows(const std::string& update_name, const std::string& table,
                                                      const std::string& constraint_name,
                                                      const std::string& constraint_json,
                                                      const std::vector<std::string>& unique_columns,
                                                      const KeyRangeArgs& range = {});
    void register_batched_update(const BatchedUpdateArgs& args);
    // SQLite: the rows the rebuild removed; PostgreSQL: 0 (nothing is removed now).
    int64_t add_constraint_and_enqueue(const ConstraintDeltaArgs& args);

    // Queue.
    void enqueue(const std::string& update_name, int64_t ordering, const std::optional<std::string>& depends_on,
                 const std::string& progress_json);
    void update_progress(const std::string& update_name, const std::string& progress_json);
    void end_update(const std::string& update_name);

    // Running: typed results; their to_json() is what the SQL functions
    // return (step(): SPEC's JSON object; run(): a JSON summary).
    StepOutcome step(const RunScope& scope = {});
    RunSummary run(int64_t max_ms, const RunScope& scope = {});
    // `timeout_ms`: how long it may wait for another runner (nullopt: no
    // limit); `scope`: the binding's limits (PostgreSQL sessions: own role).
    void finish(const std::string& update_name, std::optional<int64_t> timeout_ms = std::nullopt,
                const RunScope& scope = {});
    // Starts an update over: its progress, state and definition are
    // forgotten (history keeps a "reset" row), so it can be registered anew.
    void reset(const std::string& update_name);
    // Stops the running batch of an update (a failed attempt, like any
    // other); false when no batch of it runs now.
    bool cancel(const std::string& update_name);

    // The application-run protocol (no callback: any language, any driver).
    // batch_begin opens the atomic batch of the next update the application
    // runs itself and returns {"update_name", "progress", "batch_size"} (or
    // step()'s "nothing ran" shape); the application runs its own statements;
    // batch_end records the items and new progress (or done) and commits;
    // batch_fail, or a rollback by the application, records a failure.
    // `slot` is the connection's open batch, kept by the binding.
    std::string batch_begin(std::optional<ApplicationBatch>& slot);
    StepOutcome batch_end(std::optional<ApplicationBatch>& slot, int64_t items,
                          const std::optional<std::string>& progress_json, bool done);
    StepOutcome batch_fail(std::optional<ApplicationBatch>& slot, const std::string& message);
    // `scope` adds the binding's own limits (PostgreSQL: only_manageable and
    // callers_transaction); application_batch is always set.
    void set_application_scope(const RunScope& scope) { application_scope_ = scope; }
    StepOutcome record_abandoned_batch(const ApplicationBatch& open, const std::string& message);
    void register_application_update(const std::string& update_name);
    bool has_completed(const std::string& update_name);
    bool has_completed_all();

    // Control.
    void set_enabled(bool on);
    bool enabled();
    void pause(const std::string& update_name);
    void resume(const std::string& update_name);
    void retry(const std::string& update_name);
    // A batch whose process was ended (the PostgreSQL worker's hard limit):
    // recorded as a failed attempt.
    void record_lost_batch(const std::string& update_name, const std::string& message);
    // SQLite's bgupdate_config: read (value or default) / validate and write.
    std::string config(const std::string& key);
    std::string config(const std::string& key, const std::string& value);

    std::vector<StatusRow> status(const RunScope& scope = {});

    // Schema versions and deltas (Synapse's schema management).
    void check_schema_compat(int64_t code_version);
    bool apply_schema_delta(int64_t version, const std::string& file_name, const std::string& sql);
    void set_schema_version(int64_t version, int64_t compat_version);
    // Migrations as Synapse runs them (schema_migration.h plans, these run).
    void apply_schema_snapshot(int64_t version, const std::string& file_name, const std::string& sql);
    bool skip_schema_delta(int64_t version, const std::string& file_name, const std::string& reason);
    // Makes an unqualified `background_updates` the queue; a JSON summary.
    std::string adopt_queue();

    // A measured estimate of how long a queued update will take (JSON).
    std::string estimate(const std::string& update_name, const RunScope& scope = {}, bool caller_rolls_back = false);

private:
    RunScope application_scope() const;
    Engine& engine_;
    RunScope application_scope_;
};

}  // namespace bgupdate
