// bgupdate::Engine on one SQLite connection. Used by the SQL functions (on
// the connection that loaded the extension) and by the background thread (on
// a connection of its own to the same file).
#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "batch_authorizer.h"
#include "connection_trust.h"
#include "dialect.h"
#include "engine.h"
#include "queue_adoption_sqlite.h"
#include "sqlite_api.h"
#include "sqlite_table_rebuild.h"
#include "sqlite_writer_room.h"

namespace bgupdate_sqlite {

class SqliteEngine : public bgupdate::Engine {
public:
    // `stop` (may be null): set by another thread to make sleep_ms return false.
    // `app_functions`: false on the background thread's connection, where the
    // application's SQL functions (handlers, hooks) do not exist.
    // `trust`: what the application vouched for on its connection (shared
    // with its background thread's engine).
    SqliteEngine(sqlite3* db, const std::atomic<bool>* stop, bool app_functions,
                 std::shared_ptr<const ConnectionTrust> trust);
    ~SqliteEngine() override;

    SqliteEngine(const SqliteEngine&) = delete;
    SqliteEngine& operator=(const SqliteEngine&) = delete;

    sqlite3* db() const { return db_; }

    const bgupdate::Dialect& dialect() const override { return dialect_; }
    bgupdate::Rows query(const std::string& sql) override;
    int64_t exec(const std::string& sql) override;
    bgupdate::Rows query(const std::string& sql, const std::vector<bgupdate::Value>& params) override;
    int64_t exec(const std::string& sql, const std::vector<bgupdate::Value>& params) override;

    // While one is open, statements run with bound values are kept prepared
    // for the next run of the same text; the last one to close finalizes
    // them. The application's connection keeps them for one call of a SQL
    // function only: a statement left prepared there would keep the
    // connection from closing (and so this engine from going). The
    // background thread's connection keeps them for its whole life.
    class StatementScope {
    public:
        explicit StatementScope(SqliteEngine& e) : e_(e) { ++e_.statement_scopes_; }
        ~StatementScope() {
            if (--e_.statement_scopes_ == 0) e_.finalize_statements();
        }
        StatementScope(const StatementScope&) = delete;
        StatementScope& operator=(const StatementScope&) = delete;

    private:
        SqliteEngine& e_;
    };

    void begin_batch(int64_t lock_timeout_ms, int64_t statement_timeout_ms) override;
    void commit_batch() override;
    void rollback_batch() override;
    bool batch_is_open() override;
    void exec_outside_transaction(const std::string& sql) override;

    bool try_claim_update(const std::string& update_name) override;
    void release_update(const std::string& update_name) override;
    bool cancel_running_batch(const std::string& update_name) override;

    int64_t call_handler(const std::string& function, const std::string& progress_json,
                         int64_t batch_size) override;
    std::optional<double> call_hook(const std::string& function, const std::string& update_name) override;
    std::string resolve_function(const std::string& function, bool is_hook) override;

    void check_fragment(bgupdate::FragmentKind kind, const std::string& table, const std::string& fragment) override;
    bgupdate::Identity current_identity() override { return {}; }
    // A batch runs an update's stored definition as its "identity": under
    // the batch authorizer (batch_authorizer.h). The caller's own statements
    // (unrestricted: registration, schema deltas) run without it.
    void enter_identity(const bgupdate::Identity& who) override;
    void leave_identity() override;
    bool may_manage(const std::string&) override { return true; }
    bool registration_trusted(const std::string& update_name, const std::string& kind,
                              const std::string& spec_json) override;
    bool application_function_allowed(const std::string& function) override {
        return authorizer_.application_function_allowed(function);
    }

    std::optional<std::string> get_setting(const std::string& key) override;
    void set_setting(const std::string& key, const std::string& value) override;

    bool sleep_ms(int64_t ms) override;
    // While other writers are active, aim the batch's work at the target
    // minus the COMMIT time (part of the lock hold the runner does not see).
    double batch_target_ms(double target_ms) override;

    // While the application runs a batch it opened with batch_begin(), a
    // COMMIT that is not batch_end()'s would commit the work without its
    // progress (the rows would be done again): the commit hook turns it into
    // a ROLLBACK and remembers it. The application's own commit hook, if it
    // has one, is asked for every other commit and put back afterwards.
    void watch_application_batch(bool on);
    bool foreign_commit_refused() const { return foreign_commit_refused_; }

    // An application function failed without a message during the last
    // call (better-sqlite3: a JavaScript exception). That driver expects the
    // statement that ran the function to fail, else it treats the next
    // SQLite error on the connection as that exception and drops it; the
    // binding makes bgupdate's statement fail (the failure is recorded already).
    bool take_silent_application_failure() {
        bool was = silent_application_failure_;
        silent_application_failure_ = false;
        return was;
    }

    // Health: the WAL file's size and the application's health hook.
    std::vector<bgupdate::HealthReading> read_health(const bgupdate::HealthRequest& req) override;
    std::string database_key() override { return file_key_; }

    bgupdate::ConstraintDelta& constraint_delta() override { return table_rebuild_; }
    bgupdate::QueueAdoption& queue_adoption() override { return queue_adoption_; }

private:
    // Runs `sql` with `params` bound (rows into *rows when given); returns rows changed.
    int64_t run_bound(const std::string& sql, const std::vector<bgupdate::Value>& params, bgupdate::Rows* rows);
    void finalize_statements();
    int64_t arm_statement_deadline();
    void require_no_second_statement(const char* tail, const char* end, const std::string& sql);
    // How an open batch was begun, to end it the same way. A stack only to be
    // safe should the core ever nest batches (a nested one is a SAVEPOINT).
    struct Batch {
        bool is_savepoint = false;
        int saved_busy_timeout_ms = 0;
        int64_t statement_timeout_ms = 0;
    };
    void end_batch(const char* sql_on_success);
    void restore_after_batch(const Batch& b);
    std::string claim_key(const std::string& update_name) const;
    [[noreturn]] void throw_sqlite(int rc, const std::string& sql);
    static int progress_callback(void* self);
    static int commit_hook(void* self);
    // An application function named by the database file (handler, hook):
    // called only if the application allowed it, and run under the
    // application's own authorizer (it is the application's code).
    void require_allowed_function(const std::string& function, const char* what);
    sqlite3_stmt* prepare_application_call(const std::string& sql, const std::string& function, const char* what);
    int step_application_call(sqlite3_stmt* st);
    [[noreturn]] void application_function_failed(const std::string& function, const char* what,
                                                  const std::string& sql);
    bool silent_application_failure_ = false;

    sqlite3* db_;
    const std::atomic<bool>* stop_;
    bool app_functions_;
    bgupdate::Dialect dialect_{bgupdate::Dialect::Kind::Sqlite};
    std::string file_key_;  // identifies the database file for claims
    std::shared_ptr<const ConnectionTrust> trust_;
    BatchAuthorizer authorizer_;
    std::vector<bool> identities_;  // per enter_identity: whether it installed the authorizer
    bool watching_commits_ = false, own_commit_ = false, foreign_commit_refused_ = false;
    CommitHook app_commit_hook_;
    TableRebuild table_rebuild_{*this};
    SameTableQueueAdoption queue_adoption_{*this};

    std::vector<Batch> batches_;
    bool progress_handler_set_ = false;
    int64_t deadline_ns_ = 0;  // steady clock; 0 = none
    bool timed_out_ = false;
    // Gaps between our batches for the application's writers (sqlite_writer_room.h).
    WriterRoom writer_room_;
    int64_t batch_began_ms_ = 0;
    double commit_ms_avg_ = -1;  // moving average of our COMMITs' duration (-1: none yet)
    void leave_room_for_writers();
    // Prepared statements kept by (prepared under the batch authorizer, text).
    std::map<std::pair<bool, std::string>, sqlite3_stmt*> statements_;
    int statement_scopes_ = 0;
    void note_lock_released();
};

}  // namespace bgupdate_sqlite
