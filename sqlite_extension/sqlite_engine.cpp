#include "sqlite_engine.h"

#include <chrono>
#include <cmath>
#include <climits>
#include <map>
#include <mutex>
#include <thread>
#include <utility>

#include "errors.h"
#include "fragment_check.h"
#include "health.h"

#include <sys/stat.h>

using bgupdate::Error;
using bgupdate::ErrorKind;
using bgupdate::Row;
using bgupdate::Rows;
using bgupdate::Value;

namespace bgupdate_sqlite {

namespace {

int64_t now_ns() {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(
               std::chrono::steady_clock::now().time_since_epoch())
        .count();
}

std::string sql_excerpt(const std::string& sql) {
    const size_t limit = 200;
    if (sql.size() <= limit) return sql;
    return sql.substr(0, limit) + "...";
}

// Finalizes a prepared statement on every exit path.
struct Stmt {
    sqlite3_stmt* s = nullptr;
    ~Stmt() {
        if (s) sqlite3_finalize(s);
    }
};

Value column_value(sqlite3_stmt* st, int i) {
    switch (sqlite3_column_type(st, i)) {
        case SQLITE_INTEGER:
            return Value::of(static_cast<int64_t>(sqlite3_column_int64(st, i)));
        case SQLITE_FLOAT:
            return Value::of_real(sqlite3_column_double(st, i));
        case SQLITE_NULL:
            return Value::null();
        default: {  // TEXT and BLOB: carried as text
            const unsigned char* t = sqlite3_column_text(st, i);
            int n = sqlite3_column_bytes(st, i);
            return Value::of(t ? std::string(reinterpret_cast<const char*>(t), static_cast<size_t>(n))
                               : std::string());
        }
    }
}

// Claims on updates, shared by every connection of this process. Keyed by
// database file and update name; the value is the engine that holds it and
// its connection (cancel() interrupts it). Between processes the database's
// write lock, held by the batch's transaction until it ends, is the claim:
// one writer at a time, and a batch reads progress only once it holds it.
struct Claim {
    const void* engine;
    sqlite3* db;
};
std::mutex g_claims_mutex;
std::map<std::string, Claim> g_claims;

}  // namespace

SqliteEngine::SqliteEngine(sqlite3* db, const std::atomic<bool>* stop, bool app_functions,
                           std::shared_ptr<const ConnectionTrust> trust)
    : db_(db), stop_(stop), app_functions_(app_functions), trust_(trust), authorizer_(db, trust) {
    const char* f = sqlite3_db_filename(db_, "main");
    if (f && *f) {
        file_key_ = f;
    } else {
        // In-memory or temporary database: private to this connection.
        file_key_ = "connection:" + std::to_string(reinterpret_cast<uintptr_t>(db_));
    }
    // Writers already active when the first batch comes are seen at once.
    try {
        Rows r = query("PRAGMA data_version");
        if (!r.empty() && !r[0].empty()) writer_room_.set_baseline(now_ns() / 1000000, r[0][0].as_int());
    } catch (...) {
        // Pacing only: the first batch then starts "quiet".
    }
}

SqliteEngine::~SqliteEngine() {
    // No SQLite calls here: this may run while SQLite closes the connection
    // (which rolls back any open transaction itself). Claims this engine holds go.
    std::lock_guard<std::mutex> lock(g_claims_mutex);
    for (auto it = g_claims.begin(); it != g_claims.end();) {
        if (it->second.engine == this) {
            it = g_claims.erase(it);
        } else {
            ++it;
        }
    }
}

void SqliteEngine::throw_sqlite(int rc, const std::string& sql) {
    std::string msg = sqlite3_errmsg(db_);
    int primary = rc & 0xff;
    ErrorKind kind = ErrorKind::Failure;
    if (primary == SQLITE_BUSY || primary == SQLITE_LOCKED) {
        kind = ErrorKind::LockTimeout;
    } else if (primary == SQLITE_CONSTRAINT) {
        kind = ErrorKind::Integrity;
    } else if (primary == SQLITE_INTERRUPT && timed_out_) {
        kind = ErrorKind::StatementTimeout;
        msg = "statement timeout: cancelled after " + std::to_string(batches_.empty() ? 0 : batches_.back().statement_timeout_ms) +
              " ms (" + msg + ")";
    }
    // Refused by the batch authorizer while this statement was prepared: say
    // what, and why (SQLite says "not authorized", with SQLITE_AUTH or, for a
    // function, SQLITE_ERROR).
    std::string refused = authorizer_.take_refusal();
    if (!refused.empty()) msg = "bgupdate refused " + refused + ": " + BatchAuthorizer::rule_summary();
    throw Error(kind, msg + " (in: " + sql_excerpt(sql) + ")");
}

// The deadline of the statement about to run: statement_timeout_ms from now,
// or the enclosing statement's when that comes first (SQL run by a handler
// that is itself a statement of the batch). Returns the enclosing one, which
// the caller puts back when its statement is done.
int64_t SqliteEngine::arm_statement_deadline() {
    const int64_t outer = deadline_ns_;
    if (batches_.empty() || batches_.back().statement_timeout_ms <= 0) return outer;
    int64_t mine = now_ns() + batches_.back().statement_timeout_ms * 1000000;
    deadline_ns_ = outer != 0 && outer < mine ? outer : mine;
    if (outer == 0) timed_out_ = false;
    return outer;
}

int SqliteEngine::progress_callback(void* self) {
    auto* e = static_cast<SqliteEngine*>(self);
    if (e->deadline_ns_ != 0 && now_ns() > e->deadline_ns_) {
        e->timed_out_ = true;
        return 1;  // interrupts the running statement with SQLITE_INTERRUPT
    }
    return 0;
}

// The core composes one statement at a time: text after it (other than
// spaces and comments) is refused, never run or silently ignored.
void SqliteEngine::require_no_second_statement(const char* tail, const char* end, const std::string& sql) {
    if (!tail || tail >= end) return;
    Stmt rest;
    const char* ignored = nullptr;
    int rc = sqlite3_prepare_v2(db_, tail, static_cast<int>(end - tail), &rest.s, &ignored);
    if (rc != SQLITE_OK || rest.s)
        throw Error(ErrorKind::Failure, "refusing to run more than one statement as one (in: " + sql_excerpt(sql) + ")");
}

Rows SqliteEngine::query(const std::string& sql) {
    authorizer_.take_refusal();  // one statement's refusal names only its own failure
    Stmt st;
    const char* tail = nullptr;
    int rc = sqlite3_prepare_v2(db_, sql.c_str(), static_cast<int>(sql.size()), &st.s, &tail);
    if (rc != SQLITE_OK) throw_sqlite(rc, sql);
    Rows rows;
    if (!st.s) return rows;  // empty statement
    require_no_second_statement(tail, sql.c_str() + sql.size(), sql);
    const int64_t outer = arm_statement_deadline();
    int ncol = sqlite3_column_count(st.s);
    while ((rc = sqlite3_step(st.s)) == SQLITE_ROW) {
        Row row;
        row.reserve(static_cast<size_t>(ncol));
        for (int i = 0; i < ncol; ++i) row.push_back(column_value(st.s, i));
        rows.push_back(std::move(row));
    }
    deadline_ns_ = outer;
    if (rc != SQLITE_DONE) throw_sqlite(sqlite3_extended_errcode(db_), sql);
    return rows;
}

int64_t SqliteEngine::exec(const std::string& sql) {
    authorizer_.take_refusal();
    Stmt st;
    const char* tail = nullptr;
    int rc = sqlite3_prepare_v2(db_, sql.c_str(), static_cast<int>(sql.size()), &st.s, &tail);
    if (rc != SQLITE_OK) throw_sqlite(rc, sql);
    if (!st.s) return 0;  // whitespace or comment
    require_no_second_statement(tail, sql.c_str() + sql.size(), sql);
    const int64_t outer = arm_statement_deadline();
    while ((rc = sqlite3_step(st.s)) == SQLITE_ROW) {
    }
    deadline_ns_ = outer;
    if (rc != SQLITE_DONE) throw_sqlite(sqlite3_extended_errcode(db_), sql);
    return sqlite3_changes64(db_);
}

// Enough for the hot statements of a few updates; past it they are all
// finalized (simplest bound; a batch prepares its few again).
static const size_t kKeptStatements = 64;

void SqliteEngine::finalize_statements() {
    for (auto it = statements_.begin(); it != statements_.end();) {
        // One still running (a nested call from inside it) stays for its caller.
        if (sqlite3_stmt_busy(it->second)) {
            ++it;
            continue;
        }
        sqlite3_finalize(it->second);
        it = statements_.erase(it);
    }
}

int64_t SqliteEngine::run_bound(const std::string& sql, const std::vector<Value>& params, Rows* rows) {
    authorizer_.take_refusal();
    const bool keep = statement_scopes_ > 0;
    // Prepared under the batch authorizer or not: its checks run at prepare
    // time (and again when SQLite re-prepares after a schema change).
    std::pair<bool, std::string> key{authorizer_.in_effect(), sql};
    sqlite3_stmt* st = nullptr;
    auto it = keep ? statements_.find(key) : statements_.end();
    bool kept = false;
    if (it != statements_.end() && !sqlite3_stmt_busy(it->second)) {
        st = it->second;
        kept = true;
    } else {
        const char* tail = nullptr;
        int rc = sqlite3_prepare_v2(db_, sql.c_str(), static_cast<int>(sql.size()), &st, &tail);
        if (rc != SQLITE_OK) throw_sqlite(rc, sql);
        if (!st) return 0;  // whitespace or comment
        try {
            require_no_second_statement(tail, sql.c_str() + sql.size(), sql);
        } catch (...) {
            sqlite3_finalize(st);
            throw;
        }
        if (keep && it == statements_.end()) {
            if (statements_.size() >= kKeptStatements) finalize_statements();
            statements_.emplace(std::move(key), st);
            kept = true;
        }
    }
    // Kept: reset for the next run, values unbound; otherwise finalized.
    struct Release {
        sqlite3_stmt* st;
        bool kept;
        ~Release() {
            if (!kept) {
                sqlite3_finalize(st);
                return;
            }
            sqlite3_reset(st);
            sqlite3_clear_bindings(st);
        }
    } release{st, kept};
    if (static_cast<int>(params.size()) != sqlite3_bind_parameter_count(st))
        throw Error(ErrorKind::Failure, "bgupdate internal error: " + std::to_string(params.size()) +
                                            " values for a statement with " +
                                            std::to_string(sqlite3_bind_parameter_count(st)) +
                                            " placeholders (in: " + sql_excerpt(sql) + ")");
    for (size_t i = 0; i < params.size(); ++i) {
        const Value& v = params[i];
        const int n = static_cast<int>(i + 1);
        int rc = SQLITE_OK;
        switch (v.kind) {
            case Value::Kind::Null: rc = sqlite3_bind_null(st, n); break;
            case Value::Kind::Integer: rc = sqlite3_bind_int64(st, n, v.integer); break;
            case Value::Kind::Real: rc = sqlite3_bind_double(st, n, v.real); break;
            case Value::Kind::Text:
                rc = sqlite3_bind_text(st, n, v.text.data(), static_cast<int>(v.text.size()), SQLITE_STATIC);
                break;
        }
        if (rc != SQLITE_OK) throw_sqlite(rc, sql);
    }
    const int64_t outer = arm_statement_deadline();
    const int ncol = sqlite3_column_count(st);
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (!rows) continue;
        Row row;
        row.reserve(static_cast<size_t>(ncol));
        for (int i = 0; i < ncol; ++i) row.push_back(column_value(st, i));
        rows->push_back(std::move(row));
    }
    deadline_ns_ = outer;
    if (rc != SQLITE_DONE) throw_sqlite(sqlite3_extended_errcode(db_), sql);
    return sqlite3_changes64(db_);
}

Rows SqliteEngine::query(const std::string& sql, const std::vector<Value>& params) {
    Rows rows;
    run_bound(sql, params, &rows);
    return rows;
}

int64_t SqliteEngine::exec(const std::string& sql, const std::vector<Value>& params) {
    return run_bound(sql, params, nullptr);
}

// Prepared only, never stepped: preparing resolves names and types. The SET
// list is followed by `, <column> = <column> WHERE FALSE`, which only parses
// if the list ended where it should (a FROM, WHERE or RETURNING in it fails).
// Prepared under the batch authorizer, at registration and again before every
// batch: a fragment that calls what a batch may not call is refused by name.
void SqliteEngine::check_fragment(bgupdate::FragmentKind kind, const std::string& table, const std::string& fragment) {
    authorizer_.install();
    struct Uninstall {
        BatchAuthorizer& a;
        ~Uninstall() { a.uninstall(); }
    } uninstall{authorizer_};
    authorizer_.take_refusal();
    std::string sql;
    if (kind == bgupdate::FragmentKind::SetList) {
        // Any column of the table will do for the appended assignment.
        std::string columns_sql = "SELECT * FROM " + dialect_.table(table);
        Stmt cols;
        int rc = sqlite3_prepare_v2(db_, columns_sql.c_str(), -1, &cols.s, nullptr);
        if (rc != SQLITE_OK) {
            if ((rc & 0xff) == SQLITE_AUTH) throw_sqlite(rc, columns_sql);
            bgupdate::bad_input("table '" + table + "' does not exist");
        }
        if (!cols.s || sqlite3_column_count(cols.s) < 1) bgupdate::bad_input("table '" + table + "' does not exist");
        std::string col = dialect_.ident(sqlite3_column_name(cols.s, 0));
        sql = "UPDATE " + dialect_.table(table) + " SET " + bgupdate::compose_set_list(fragment) + ", " + col + " = " +
              col + " WHERE FALSE";
    } else {
        sql = "SELECT 1 FROM " + dialect_.table(table) + " WHERE " + bgupdate::compose_condition(fragment);
    }
    Stmt st;
    const char* tail = nullptr;
    int rc = sqlite3_prepare_v2(db_, sql.c_str(), static_cast<int>(sql.size()), &st.s, &tail);
    if (rc != SQLITE_OK) {
        std::string refused = authorizer_.take_refusal();
        throw Error(ErrorKind::BadInput, refused.empty() ? std::string(sqlite3_errmsg(db_))
                                                         : "bgupdate refused " + refused + ": " +
                                                               BatchAuthorizer::rule_summary());
    }
    if (!st.s) throw Error(ErrorKind::BadInput, "it is empty");
    require_no_second_statement(tail, sql.c_str() + sql.size(), sql);
    // A batch binds its keys to the statement's placeholders: one in a
    // fragment would read them (or NULL), never a value the fragment chose.
    if (sqlite3_bind_parameter_count(st.s) > 0)
        throw Error(ErrorKind::BadInput, "it has a parameter placeholder (?, ?NNN, :name, @name or $name); write "
                                         "the value itself");
}

void SqliteEngine::enter_identity(const bgupdate::Identity& who) {
    if (who.restricted) authorizer_.install();
    identities_.push_back(who.restricted);
}

void SqliteEngine::leave_identity() {
    if (identities_.empty()) return;
    if (identities_.back()) authorizer_.uninstall();
    identities_.pop_back();
}

bool SqliteEngine::registration_trusted(const std::string& update_name, const std::string& kind,
                                        const std::string& spec_json) {
    // With trusted_schema ON (SQLite's default) the application trusts the
    // file's schema, and so what it registered; OFF, only what it registered itself.
    Rows r = query("PRAGMA trusted_schema");
    if (r.empty() || r[0].empty() || r[0][0].as_int() != 0) return true;
    return trust_ && trust_->registered_here(update_name, kind, spec_json);
}

void SqliteEngine::require_allowed_function(const std::string& function, const char* what) {
    if (!authorizer_.application_function_allowed(function))
        throw Error(ErrorKind::Failure, "bgupdate refused to call application function '" + function + "' (" + what +
                                            "): the application has not allowed it on this connection (register it "
                                            "there, or call bgupdate_allow_function('" + function + "'))");
}

sqlite3_stmt* SqliteEngine::prepare_application_call(const std::string& sql, const std::string& function,
                                                     const char* what) {
    require_allowed_function(function, what);
    authorizer_.take_refusal();
    sqlite3_stmt* st = nullptr;
    int rc = sqlite3_prepare_v2(db_, sql.c_str(), -1, &st, nullptr);
    if (rc != SQLITE_OK) {
        if (st) sqlite3_finalize(st);
        throw_sqlite(rc, sql);
    }
    return st;
}

// What an application function's failure says depends on the driver: the
// reason when it passes one on; Python's sqlite3 passes a fixed text, and
// better-sqlite3 none at all (it keeps the JavaScript exception and throws it
// from the statement that called bgupdate, and expects that statement to
// fail: see take_silent_application_failure).
void SqliteEngine::application_function_failed(const std::string& function, const char* what, const std::string& sql) {
    int code = sqlite3_extended_errcode(db_);
    std::string driver_text = sqlite3_errmsg(db_);
    try {
        throw_sqlite(code, sql);
    } catch (const Error& e) {
        std::string why = e.what();
        if (driver_text.empty()) {
            silent_application_failure_ = true;
            why = "it raised an error and its driver passed no message (better-sqlite3 keeps the JavaScript "
                  "exception and throws it from the statement that called bgupdate) (in: " + sql + ")";
        } else if (driver_text == "user-defined function raised exception") {
            why += "; Python's sqlite3 passes only this text: to keep the reason, run the batch with "
                   "bgupdate_batch_begin() and bgupdate_batch_fail(str(exception))";
        }
        throw Error(e.kind(), std::string(what) + " '" + function + "' failed: " + why);
    }
}

int SqliteEngine::step_application_call(sqlite3_stmt* st) {
    authorizer_.suspend();
    int rc = sqlite3_step(st);
    authorizer_.resume();
    return rc;
}

void SqliteEngine::begin_batch(int64_t lock_timeout_ms, int64_t statement_timeout_ms) {
    Batch b;
    // The application's busy timeout is restored when the batch ends
    // (PRAGMA busy_timeout reads it back; a custom busy handler set with
    // sqlite3_busy_handler cannot be read back and is replaced by the timeout).
    Rows r = query("PRAGMA busy_timeout");
    b.saved_busy_timeout_ms = r.empty() || r[0].empty() ? 0 : static_cast<int>(r[0][0].as_int());
    // lock_timeout_ms 0 means "wait forever" (settings.cpp); SQLite's 0 means "never wait".
    int lock_ms = lock_timeout_ms <= 0 ? INT_MAX : static_cast<int>(std::min<int64_t>(lock_timeout_ms, INT_MAX));
    sqlite3_busy_timeout(db_, lock_ms);
    b.is_savepoint = !sqlite3_get_autocommit(db_);
    try {
        if (!b.is_savepoint && batches_.empty()) leave_room_for_writers();
        exec(b.is_savepoint ? "SAVEPOINT bgupdate_batch" : "BEGIN IMMEDIATE");
    } catch (...) {
        sqlite3_busy_timeout(db_, b.saved_busy_timeout_ms);
        throw;
    }
    if (!b.is_savepoint) batch_began_ms_ = now_ns() / 1000000;
    b.statement_timeout_ms = std::max<int64_t>(0, statement_timeout_ms);
    // Some SQLite builds leave the progress handler out (better-sqlite3 is
    // built with SQLITE_OMIT_PROGRESS_CALLBACK: its routine is NULL there).
    // Statements then run to their end; a handler's batch is still checked
    // against the limit when it returns (call_handler).
    if (b.statement_timeout_ms > 0 && !progress_handler_set_ && sqlite3_api->progress_handler) {
        // Replaces any progress handler of the application for the batch's
        // duration (it cannot be read back); only used when a limit is set.
        sqlite3_progress_handler(db_, 1000, &SqliteEngine::progress_callback, this);
        progress_handler_set_ = true;
    }
    batches_.push_back(b);
}

void SqliteEngine::restore_after_batch(const Batch& b) {
    sqlite3_busy_timeout(db_, b.saved_busy_timeout_ms);
    if (batches_.empty() && progress_handler_set_) {
        sqlite3_progress_handler(db_, 0, nullptr, nullptr);
        progress_handler_set_ = false;
    }
    deadline_ns_ = 0;
    timed_out_ = false;
}

void SqliteEngine::commit_batch() {
    if (batches_.empty()) throw Error(ErrorKind::Failure, "bgupdate internal error: commit without a batch");
    Batch b = batches_.back();
    // On failure (e.g. SQLITE_BUSY at COMMIT) the batch stays open so that
    // rollback_batch can undo it.
    int64_t t0 = now_ns();
    own_commit_ = true;
    try {
        exec(b.is_savepoint ? "RELEASE bgupdate_batch" : "COMMIT");
    } catch (...) {
        own_commit_ = false;
        throw;
    }
    own_commit_ = false;
    batches_.pop_back();
    restore_after_batch(b);
    if (!b.is_savepoint) {
        double ms = static_cast<double>(now_ns() - t0) / 1e6;
        commit_ms_avg_ = commit_ms_avg_ < 0 ? ms : 0.7 * commit_ms_avg_ + 0.3 * ms;
        note_lock_released();
    }
}

double SqliteEngine::batch_target_ms(double target_ms) {
    if (commit_ms_avg_ <= 0 || !writer_room_.active(now_ns() / 1000000)) return target_ms;
    return std::max(target_ms / 4, target_ms - commit_ms_avg_);
}

// Before BEGIN IMMEDIATE: a gap after our last commit for writers waiting in
// their busy handlers (sqlite_writer_room.h). An interrupted sleep (the background
// thread stopping) just goes on: the batch then ends the thread's loop.
void SqliteEngine::leave_room_for_writers() {
    Rows r = query("PRAGMA data_version");
    int64_t version = r.empty() || r[0].empty() ? 0 : r[0][0].as_int();
    int64_t wait = writer_room_.gap_before_batch(now_ns() / 1000000, version);
    if (wait > 0) (void)sleep_ms(wait);
}

void SqliteEngine::note_lock_released() {
    try {
        Rows r = query("PRAGMA data_version");
        int64_t version = r.empty() || r[0].empty() ? 0 : r[0][0].as_int();
        int64_t now = now_ns() / 1000000;
        writer_room_.after_commit(now, version, now - batch_began_ms_);
    } catch (...) {
        // Pacing only: never turn a committed batch into an error.
    }
}

void SqliteEngine::rollback_batch() {
    if (batches_.empty()) return;
    Batch b = batches_.back();
    batches_.pop_back();
    try {
        if (b.is_savepoint) {
            // The caller's transaction may already be gone (SQLite rolls back
            // the whole transaction on some errors): nothing left to undo then.
            if (!sqlite3_get_autocommit(db_)) {
                exec("ROLLBACK TO bgupdate_batch");
                exec("RELEASE bgupdate_batch");
            }
        } else if (!sqlite3_get_autocommit(db_)) {
            exec("ROLLBACK");
            note_lock_released();  // it held the lock as long as a committed batch
        }
    } catch (...) {
        restore_after_batch(b);
        throw;
    }
    restore_after_batch(b);
}

int SqliteEngine::commit_hook(void* self) {
    auto* e = static_cast<SqliteEngine*>(self);
    if (!e->own_commit_) {
        e->foreign_commit_refused_ = true;
        return 1;  // SQLite rolls back instead, and the COMMIT fails (SQLITE_CONSTRAINT_COMMITHOOK)
    }
    return e->app_commit_hook_.fn ? e->app_commit_hook_.fn(e->app_commit_hook_.arg) : 0;
}

void SqliteEngine::watch_application_batch(bool on) {
    if (on == watching_commits_) return;
    watching_commits_ = on;
    if (on) {
        bool known = false;
        app_commit_hook_ = current_commit_hook(db_, &known);
        if (app_commit_hook_.fn == &SqliteEngine::commit_hook) app_commit_hook_ = CommitHook{};
        foreign_commit_refused_ = false;
        sqlite3_commit_hook(db_, &SqliteEngine::commit_hook, this);
    } else {
        sqlite3_commit_hook(db_, app_commit_hook_.fn, app_commit_hook_.arg);
        app_commit_hook_ = CommitHook{};
    }
}

bool SqliteEngine::batch_is_open() {
    if (batches_.empty()) return false;
    if (sqlite3_get_autocommit(db_)) return false;  // the transaction is gone (ROLLBACK or COMMIT by the application)
    if (!batches_.back().is_savepoint) return true;
    // A savepoint batch: the application may have rolled back to or released it.
    try {
        exec("SAVEPOINT bgupdate_probe");
        exec("RELEASE bgupdate_probe");
    } catch (...) {
    }
    return !sqlite3_get_autocommit(db_);
}

void SqliteEngine::exec_outside_transaction(const std::string& sql) {
    // SQLite has no statements that refuse to run inside a transaction among
    // those the core issues: a plain exec.
    exec(sql);
}

std::string SqliteEngine::claim_key(const std::string& update_name) const {
    return file_key_ + std::string(1, '\0') + update_name;
}

bool SqliteEngine::try_claim_update(const std::string& update_name) {
    // Not re-entrant: a handler that calls bgupdate_step() from inside its own
    // batch must not run its own update again (recursively).
    std::lock_guard<std::mutex> lock(g_claims_mutex);
    return g_claims.emplace(claim_key(update_name), Claim{this, db_}).second;
}

void SqliteEngine::release_update(const std::string& update_name) {
    std::lock_guard<std::mutex> lock(g_claims_mutex);
    auto it = g_claims.find(claim_key(update_name));
    if (it != g_claims.end() && it->second.engine == this) g_claims.erase(it);
}

// The batch runs on another connection of this process (the background
// thread, another thread's connection): interrupt it. sqlite3_interrupt is
// safe from any thread, and the claim (so the connection) lives while the
// mutex is held. A batch in another process cannot be reached from here.
bool SqliteEngine::cancel_running_batch(const std::string& update_name) {
    std::lock_guard<std::mutex> lock(g_claims_mutex);
    auto it = g_claims.find(claim_key(update_name));
    if (it == g_claims.end() || it->second.engine == this) return false;
    sqlite3_interrupt(it->second.db);
    return true;
}

int64_t SqliteEngine::call_handler(const std::string& function, const std::string& progress_json,
                                   int64_t batch_size) {
    if (!app_functions_) {
        throw Error(ErrorKind::Failure, "handler function '" + function +
                                            "' is an application function and cannot run on the background "
                                            "thread's connection; call bgupdate_step() from the application");
    }
    std::string sql = "SELECT " + dialect_.ident(function) + "(?, ?)";
    Stmt st;
    st.s = prepare_application_call(sql, function, "the update's handler");
    sqlite3_bind_text(st.s, 1, progress_json.c_str(), static_cast<int>(progress_json.size()), SQLITE_TRANSIENT);
    sqlite3_bind_int64(st.s, 2, batch_size);
    const int64_t outer = arm_statement_deadline();
    const int64_t deadline = deadline_ns_;
    int rc = step_application_call(st.s);
    const bool overran = deadline != 0 && now_ns() > deadline;
    deadline_ns_ = outer;
    // SQLite's progress handler interrupts only SQL the handler runs; one that
    // spends its time in application code is checked when it returns: its
    // batch is rolled back as a statement timeout all the same.
    if (rc == SQLITE_ROW && overran)
        throw Error(ErrorKind::StatementTimeout, "statement timeout: handler function '" + function + "' ran longer than " +
                                            std::to_string(batches_.back().statement_timeout_ms) +
                                            " ms (statement_timeout_ms); its batch is rolled back");
    if (rc != SQLITE_ROW) application_function_failed(function, "handler function", sql);
    int type = sqlite3_column_type(st.s, 0);
    if (type == SQLITE_INTEGER) return sqlite3_column_int64(st.s, 0);
    if (type == SQLITE_FLOAT) {
        double d = sqlite3_column_double(st.s, 0);
        if (std::isfinite(d) && d == std::floor(d) && std::fabs(d) < 9.2e18) return static_cast<int64_t>(d);
    }
    throw Error(ErrorKind::Failure, "handler function '" + function +
                                        "' must return the number of items it processed (an integer), got " +
                                        (type == SQLITE_NULL ? std::string("NULL") : column_value(st.s, 0).as_text()));
}

std::optional<double> SqliteEngine::call_hook(const std::string& function, const std::string& update_name) {
    // The background thread's connection has none of the application's
    // functions: the hooks' defaults apply there.
    if (!app_functions_) return std::nullopt;
    std::string sql = "SELECT " + dialect_.ident(function) + "(?)";
    Stmt st;
    st.s = prepare_application_call(sql, function, "a controller hook");
    sqlite3_bind_text(st.s, 1, update_name.c_str(), static_cast<int>(update_name.size()), SQLITE_TRANSIENT);
    int rc = step_application_call(st.s);
    if (rc != SQLITE_ROW) application_function_failed(function, "hook function", sql);
    switch (sqlite3_column_type(st.s, 0)) {
        case SQLITE_NULL:
            return std::nullopt;
        case SQLITE_INTEGER:
        case SQLITE_FLOAT:
            return sqlite3_column_double(st.s, 0);
        default:
            throw Error(ErrorKind::Failure, "hook function '" + function + "' must return a number or NULL, got '" +
                                                column_value(st.s, 0).as_text() + "'");
    }
}

std::string SqliteEngine::resolve_function(const std::string& function, bool is_hook) {
    if (function.empty()) bgupdate::bad_input(std::string(is_hook ? "hook" : "handler") + " function name is empty");
    dialect_.ident(function);  // rejects NUL bytes
    if (!app_functions_) return function;
    Rows r = query("SELECT narg FROM pragma_function_list WHERE name = lower(" + dialect_.literal(function) + ")");
    if (r.empty()) {
        bgupdate::bad_input("no SQL function named '" + function + "' is defined on this connection");
    }
    const int64_t want = is_hook ? 1 : 2;
    for (const Row& row : r) {
        int64_t n = row.empty() ? -1 : row[0].as_int();
        if (n == want || n < 0) return function;
    }
    bgupdate::bad_input("SQL function '" + function + "' does not take " + std::to_string(want) +
                        (is_hook ? " argument (update_name)" : " arguments (progress_json, batch_size)"));
}

std::optional<std::string> SqliteEngine::get_setting(const std::string& key) {
    Rows r = query("SELECT value FROM " + dialect_.own(bgupdate::OwnTable::Config) +
                   " WHERE key = " + dialect_.literal(key));
    if (r.empty() || r[0].empty() || r[0][0].is_null()) return std::nullopt;
    return r[0][0].as_text();
}

void SqliteEngine::set_setting(const std::string& key, const std::string& value) {
    exec("INSERT INTO " + dialect_.own(bgupdate::OwnTable::Config) + " (key, value) VALUES (" +
         dialect_.literal(key) + ", " + dialect_.literal(value) +
         ") ON CONFLICT (key) DO UPDATE SET value = excluded.value");
}

bool SqliteEngine::sleep_ms(int64_t ms) {
    const int64_t slice = 20;
    int64_t end = now_ns() + std::max<int64_t>(0, ms) * 1000000;
    while (true) {
        if (stop_ && stop_->load()) return false;
        int64_t left_ms = (end - now_ns()) / 1000000;
        if (left_ms <= 0) break;
        std::this_thread::sleep_for(std::chrono::milliseconds(std::min(slice, left_ms)));
    }
    return !(stop_ && stop_->load());
}

}  // namespace bgupdate_sqlite

// ---- health ----

namespace bgupdate_sqlite {

std::vector<bgupdate::HealthReading> SqliteEngine::read_health(const bgupdate::HealthRequest& req) {
    std::vector<bgupdate::HealthReading> out;
    for (auto& s : req.signals) {
        if (s != bgupdate::signal::kWalMb) continue;  // the others are PostgreSQL's
        // A WAL that keeps growing means checkpoints cannot finish (a reader
        // always holds an old snapshot): more batches only make it worse.
        const char* f = sqlite3_db_filename(db_, "main");
        struct stat st {};
        double mb = 0;
        if (f && *f && ::stat((std::string(f) + "-wal").c_str(), &st) == 0)
            mb = static_cast<double>(st.st_size) / 1048576.0;
        out.push_back({s, mb, ""});
    }
    if (!req.hook.empty()) {
        // The background thread's connection has none of the application's
        // functions: holding (failing closed) is safer than ignoring the hook.
        if (!app_functions_)
            throw Error(ErrorKind::Failure, "health hook '" + req.hook +
                                                "' is an application function, which the background thread cannot "
                                                "call; run updates with bgupdate_step() or bgupdate_run() instead");
        std::string sql = "SELECT " + dialect_.ident(req.hook) + "(?)";
        Stmt st;
        st.s = prepare_application_call(sql, req.hook, "the health hook");
        sqlite3_bind_text(st.s, 1, req.update_name.c_str(), static_cast<int>(req.update_name.size()), SQLITE_TRANSIENT);
        int rc = step_application_call(st.s);
        if (rc != SQLITE_ROW) throw_sqlite(sqlite3_extended_errcode(db_), sql);
        std::string reason = sqlite3_column_type(st.s, 0) == SQLITE_NULL ? "" : column_value(st.s, 0).as_text();
        out.push_back({bgupdate::signal::kHook, 0, reason});
    }
    return out;
}

}  // namespace bgupdate_sqlite
