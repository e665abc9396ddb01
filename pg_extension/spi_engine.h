// bgupdate::Engine on PostgreSQL's SPI. Three ways of being called, each
// with its transaction boundaries in transaction_modes.*:
//   Session   - a SQL function (step, finish, register_...)
//   Procedure - CALL bgupdate.run() in a non-atomic context
//   Worker    - the background worker
// This file owns what a batch sets (timeouts, the owner's identity, the
// safe search_path) and everything else the core asks of an engine.
#pragma once

#include <cstdint>
#include <optional>
#include <exception>
#include <memory>
#include <string>
#include <vector>

#include "constraint_delta_postgres.h"
#include "dialect.h"
#include "engine.h"
#include "errors.h"
#include "pg_headers.h"
#include "queue_adoption_postgres.h"
#include "transaction_modes.h"

namespace bgupdate_pg {

// Thrown in the worker when the extension was dropped under it; deliberately
// not a bgupdate::Error, so the runner does not retry but lets it through.
struct ExtensionGone : std::exception {
    const char* what() const noexcept override { return "extension bgupdate was dropped"; }
};

class SpiEngine : public bgupdate::Engine {
public:
    enum class Mode { Session, Procedure, Worker };
    // `between` (worker): the memory context current between transactions.
    explicit SpiEngine(Mode mode, MemoryContext between = nullptr);
    ~SpiEngine() override;  // session: restores the caller's settings

    const bgupdate::Dialect& dialect() const override { return dialect_; }
    bgupdate::Rows query(const std::string& sql) override;
    int64_t exec(const std::string& sql) override;
    // Kept plans: kept_plans.h.
    bgupdate::Rows query(const std::string& sql, const std::vector<bgupdate::Value>& params) override;
    int64_t exec(const std::string& sql, const std::vector<bgupdate::Value>& params) override;
    int64_t exec_unbounded(const std::string& sql) override;
    void begin_batch(int64_t lock_timeout_ms, int64_t statement_timeout_ms) override;
    void commit_batch() override;
    void rollback_batch() override;
    void exec_outside_transaction(const std::string& sql) override;
    bool can_exec_outside_transaction() override { return tx_->can_run_top_level(); }
    bool try_claim_update(const std::string& update_name) override;
    void release_update(const std::string& update_name) override;
    // table_claims.cpp: advisory locks keyed on the table's name.
    bool try_claim_table(const std::optional<std::string>& relation) override;
    void release_table() override;
    bool try_claim_partition(const std::string& parent, const std::string& partition) override;
    int64_t call_handler(const std::string& function, const std::string& progress_json, int64_t batch_size) override;
    std::optional<double> call_hook(const std::string& function, const std::string& update_name) override;
    std::string resolve_function(const std::string& function, bool is_hook) override;
    // fragment_parser.cpp
    void check_fragment(bgupdate::FragmentKind kind, const std::string& table, const std::string& fragment) override;
    bgupdate::Identity current_identity() override;
    void enter_identity(const bgupdate::Identity& who) override;
    void leave_identity() override;
    bool may_manage(const std::string& owner) override;
    bool may_delete_from(const std::string& own_table) override;
    bool is_caller(const std::string& owner) override;
    std::string background_runner_unavailable() override;
    bool holds_lock_the_runner_needs(const std::string& update_name) override;
    bool cancel_running_batch(const std::string& update_name) override;
    void notice(const std::string& message) override;
    bool keep_going() override;
    // Tables pinned by OID (registration and batch time): pinned_table.cpp.
    std::string pin_table(const std::string& table) override;
    std::string pinned_table(const std::string& table, const std::string& pin) override;
    std::string owner_name(const std::string& owner) override;
    std::optional<std::string> get_setting(const std::string& key) override;
    void set_setting(const std::string& key, const std::string& value) override;
    bool sleep_ms(int64_t ms) override;
    // Health signals and life-event log lines: pg_extension/health_signals.cpp.
    std::vector<bgupdate::HealthReading> read_health(const bgupdate::HealthRequest& req) override;
    std::string database_key() override;
    void log_event(const std::string& message) override;
    bgupdate::ConstraintDelta& constraint_delta() override { return constraint_delta_; }
    bgupdate::QueueAdoption& queue_adoption() override { return queue_adoption_; }

    // A PostgreSQL error was caught outside any batch in a session: only an
    // ERROR (aborting the caller's transaction) may follow.
    bool transaction_unusable() const { return unusable_; }

    // Worker: commit whatever short transaction is open (never idle in one).
    void finish_transaction();

private:
    struct Result;  // SPI output copied out of PostgreSQL memory
    // `bound`: values of the statement's placeholders, run through a kept plan.
    void run_sql(const std::string& sql, int nargs, Oid* types, Datum* values, const char* nulls, Result* out,
                 const std::vector<bgupdate::Value>* bound = nullptr);
    bgupdate::Rows rows_of(Result& res);
    void start_batch_scope();  // the transaction or subtransaction of a batch, with its lock timeout
    void end_batch_scope(bool commit);
    // The batch's user code runs now: the handler, its fragments or a hook
    // (each statement of it is bounded by statement_timeout_ms).
    bool running_user_code() const { return (identity_active_ && identity_restricted_) || hook_depth_ > 0; }
    // A PostgreSQL 57014 (statement timeout, cancel request): rethrown as
    // what it means for the runner (see the .cpp); returns when it stays as it is.
    void classify_cancel(const bgupdate::Error& e, bool timer_expired);
    void report_activity(const std::string& what);  // the worker's pg_stat_activity.query
    void after_error();        // leave the engine usable after a caught error
    void apply_identity_guc();
    void forget_session_leftovers();
    // The extension's own queries run with this path (CVE-2018-1058): no
    // user-writable schema can capture an operator or function they use.
    void enter_safe_search_path();

    Mode mode_;
    bgupdate::Dialect dialect_{bgupdate::Dialect::Kind::Postgres};
    std::unique_ptr<TransactionMode> tx_;
    bool in_batch_ = false;
    int64_t lock_timeout_ms_ = 0, statement_timeout_ms_ = 0;
    int batch_guc_level_ = 0;
    // Identity switched to for a batch (enter_identity .. leave_identity).
    bool identity_active_ = false;
    Oid identity_role_ = InvalidOid;
    std::string identity_search_path_;
    bool identity_restricted_ = true;
    int identity_guc_level_ = 0;
    Oid saved_userid_ = InvalidOid;
    int saved_sec_context_ = 0;
    std::string claimed_;      // the update this engine has claimed
    std::string last_update_;  // the worker's last update (activity report between batches)
    int hook_depth_ = 0;       // inside call_hook
    bool unbounded_ = false;   // exec_unbounded: a maintenance statement, not bounded by statement_timeout_ms
    bool unusable_ = false;
    // Session and procedure: the caller's own search_path (names the caller
    // gives resolve with it), and the GUC level of the safe path set over it.
    std::string caller_search_path_;
    int safe_guc_level_ = 0;
    // Table claim held (table_claims.cpp): 0 none, 1 shared "all tables" +
    // exclusive on table_key_, 2 exclusive "all tables" (unknown table),
    // 3 as 1 plus shared on parent_key_ (a partition of that table).
    int table_claim_ = 0;
    uint32 table_key_ = 0, parent_key_ = 0;
    NotValidConstraintDelta constraint_delta_{*this};
    ViewQueueAdoption queue_adoption_{*this};
};

// True once the worker has been asked to stop (SIGTERM) or the postmaster died.
bool worker_should_stop();
// A worker's pause between batches, outside any transaction: up to `ms` on
// its latch. False when the worker must stop. A reload request is processed
// and ends the pause, so that a shortened sleep_duration_ms is obeyed at once.
bool worker_pause(int64_t ms);


}  // namespace bgupdate_pg
