#include "spi_engine.h"

#include <array>
#include <cstring>
#include <vector>

#include "batch_watchdog.h"
#include "error_boundary.h"
#include "function_lookup.h"
#include "kept_plans.h"
#include "owner_search_path.h"
#include "setting_scope.h"
#include "settings.h"
#include "shmem.h"
#include "statement_count.h"
#include "statement_timer.h"
#include "guc.h"
#include "top_level_utility.h"
#include "worker.h"
#include "work_units.h"

namespace bgupdate_pg {

using bgupdate::Error;
using bgupdate::ErrorKind;

// The key of an update's claim, lease and cancel request.
static uint32 name_hash(const std::string& name) {
    uint32 h = hash_bytes(reinterpret_cast<const unsigned char*>(name.data()), static_cast<int>(name.size()));
    return h ? h : 1;  // 0 means "none" in the worker slots
}

bool worker_should_stop() { return ProcDiePending || ShutdownRequestPending || !PostmasterIsAlive(); }

bool worker_pause(int64_t ms) {
    TimestampTz end = GetCurrentTimestamp() + ms * 1000;
    for (;;) {
        if (worker_should_stop()) return false;
        long left = static_cast<long>((end - GetCurrentTimestamp()) / 1000);
        if (left <= 0) return true;
        bool reloaded = false;
        pg_guard([&] {
            (void)WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH, left, PG_WAIT_EXTENSION);
            ResetLatch(MyLatch);  // an enqueue's wake-up does not shorten the pause
            reloaded = process_reload_request();
        });
        if (reloaded) return true;  // new pacing settings apply from the next batch
    }
}

// SPI output copied into palloc'd arrays inside the guard, then turned into
// C++ values outside it (C++ allocation must not happen under PG_TRY).
struct SpiEngine::Result {
    uint64 processed = 0;
    uint64 nrows = 0;
    int ncols = 0;
    int* kinds = nullptr;  // per column: 0 integer, 1 real, 2 text
    char** cells = nullptr;  // nrows * ncols, NULL for SQL NULL
};

// Nothing the extension runs resolves a name through a schema a user can
// write: pg_catalog first, the (own, empty) temp schema last.
static const char* const kSafeSearchPath = "pg_catalog, pg_temp";

static std::unique_ptr<TransactionMode> transactions_for(SpiEngine::Mode mode, MemoryContext between) {
    switch (mode) {
        case SpiEngine::Mode::Session: return std::make_unique<SessionTransactions>();
        case SpiEngine::Mode::Procedure: return std::make_unique<ProcedureTransactions>();
        case SpiEngine::Mode::Worker: break;
    }
    return std::make_unique<WorkerTransactions>(between);
}

SpiEngine::SpiEngine(Mode mode, MemoryContext between) : mode_(mode), tx_(transactions_for(mode, between)) {
    if (mode_ == Mode::Worker) return;  // the worker sets the safe path once, at start
    char* path = nullptr;
    pg_guard([&] { path = pstrdup(GetConfigOption("search_path", false, false)); });
    caller_search_path_ = path;
    enter_safe_search_path();
}

SpiEngine::~SpiEngine() {
    // After an error outside a batch the transaction is aborted by the SQL
    // entry, which undoes the levels itself.
    if (mode_ == Mode::Worker || unusable_) return;
    try {
        rollback_guc_level(safe_guc_level_);
    } catch (...) {
    }
}

void SpiEngine::enter_safe_search_path() {
    int* level = &safe_guc_level_;
    pg_guard([&] {
        *level = NewGUCNestLevel();
        set_config_option("search_path", kSafeSearchPath, PGC_USERSET, PGC_S_SESSION, GUC_ACTION_SAVE, true, 0, false);
    });
}

void SpiEngine::run_sql(const std::string& sql, int nargs, Oid* types, Datum* values, const char* nulls, Result* out,
                        const std::vector<bgupdate::Value>* bound) {
    tx_->ensure_open();
    const char* text = sql.c_str();
    bool failed = true;
    // Bound values: the kept plan of this text (or, when all are taken, one for this run).
    KeptPlan once;
    KeptPlan* kept = bound ? kept_plan_for(sql, *bound) : nullptr;
    KeptPlan* plan = kept ? kept : &once;
    if (bound) plan->in_use++;
    auto done_with_plan = [&](bool statement_failed) {
        if (!bound) return;
        plan->in_use--;
        if (plan == &once) {
            // After an error its memory went with the (sub)transaction's.
            if (!statement_failed) pg_guard([&] { free_plan(&once); });
        } else if (statement_failed || plan->stale) {
            // Prepared again on its next use (a changed or dropped table
            // then gives the same error as a statement planned afresh).
            pg_guard([&] { drop_kept_plan(plan); });
        }
    };
    // Only the batch's user code is bounded by statement_timeout_ms.
    std::optional<StatementTimer> timer;
    if (in_batch_ && running_user_code() && !unbounded_) timer.emplace(statement_timeout_ms_, mode_ == Mode::Worker);
    try {
        pg_guard([&] {
            int rc;
            if (bound) {
                if (!plan->plan) {
                    require_one_statement(text);
                    prepare_bound(text, *bound, plan == kept, plan);
                }
                rc = execute_bound(*plan, *bound);
            } else {
                require_one_statement(text);
                rc = nargs ? SPI_execute_with_args(text, nargs, types, values, nulls, false, 0)
                           : SPI_execute(text, false, 0);
            }
            if (rc < 0) elog(ERROR, "SPI_execute failed: %s", SPI_result_code_string(rc));
            out->processed = SPI_processed;
            SPITupleTable* tt = SPI_tuptable;
            if (tt && SPI_processed > 0) {
                TupleDesc desc = tt->tupdesc;
                out->nrows = SPI_processed;
                out->ncols = desc->natts;
                out->kinds = static_cast<int*>(palloc(sizeof(int) * desc->natts));
                for (int c = 0; c < desc->natts; c++) {
                    Oid t = TupleDescAttr(desc, c)->atttypid;
                    out->kinds[c] = (t == INT2OID || t == INT4OID || t == INT8OID) ? 0
                                    : (t == FLOAT4OID || t == FLOAT8OID)            ? 1
                                                                                    : 2;
                }
                out->cells = static_cast<char**>(palloc0(sizeof(char*) * out->nrows * out->ncols));
                for (uint64 r = 0; r < out->nrows; r++)
                    for (int c = 0; c < out->ncols; c++)
                        out->cells[r * out->ncols + c] = SPI_getvalue(tt->vals[r], desc, c + 1);
            }
            if (tt) SPI_freetuptable(tt);
        });
        failed = false;
        done_with_plan(false);
    } catch (const Error& e) {
        bool timer_expired = timer && timer->expired();
        timer.reset();
        if (failed) after_error();
        if (failed) done_with_plan(true);
        if (e.kind() == ErrorKind::Canceled) classify_cancel(e, timer_expired);
        // DROP EXTENSION while the worker runs: stop rather than retry.
        if (mode_ == Mode::Worker && (e.sqlstate() == "42P01" || e.sqlstate() == "3F000")) {
            bool gone = false;
            tx_->ensure_open();
            pg_guard([&] { gone = !OidIsValid(get_extension_oid("bgupdate", true)); });
            if (gone) throw ExtensionGone();
        }
        throw;
    }
}

bgupdate::Rows SpiEngine::query(const std::string& sql) {
    Result res;
    run_sql(sql, 0, nullptr, nullptr, nullptr, &res);
    return rows_of(res);
}

bgupdate::Rows SpiEngine::query(const std::string& sql, const std::vector<bgupdate::Value>& params) {
    Result res;
    run_sql(sql, 0, nullptr, nullptr, nullptr, &res, &params);
    return rows_of(res);
}

int64_t SpiEngine::exec(const std::string& sql, const std::vector<bgupdate::Value>& params) {
    Result res;
    run_sql(sql, 0, nullptr, nullptr, nullptr, &res, &params);
    for (uint64 i = 0; i < res.nrows * res.ncols; i++)
        if (res.cells[i]) pfree(res.cells[i]);
    return static_cast<int64_t>(res.processed);
}

bgupdate::Rows SpiEngine::rows_of(Result& res) {
    bgupdate::Rows rows;
    rows.reserve(res.nrows);
    for (uint64 r = 0; r < res.nrows; r++) {
        bgupdate::Row row;
        for (int c = 0; c < res.ncols; c++) {
            char* cell = res.cells[r * res.ncols + c];
            if (!cell) row.push_back(bgupdate::Value::null());
            else if (res.kinds[c] == 0) row.push_back(bgupdate::Value::of(static_cast<int64_t>(strtoll(cell, nullptr, 10))));
            else if (res.kinds[c] == 1) row.push_back(bgupdate::Value::of_real(strtod(cell, nullptr)));
            else row.push_back(bgupdate::Value::of(std::string(cell)));
            if (cell) pfree(cell);
        }
        rows.push_back(std::move(row));
    }
    if (res.cells) pfree(res.cells);
    if (res.kinds) pfree(res.kinds);
    return rows;
}

int64_t SpiEngine::exec(const std::string& sql) {
    Result res;
    run_sql(sql, 0, nullptr, nullptr, nullptr, &res);
    for (uint64 i = 0; i < res.nrows * res.ncols; i++)
        if (res.cells[i]) pfree(res.cells[i]);
    return static_cast<int64_t>(res.processed);
}

// ---- batches ----

void SpiEngine::finish_transaction() {
    if (!in_batch_) tx_->finish_transaction();
}

void SpiEngine::start_batch_scope() {
    tx_->begin_batch();
    in_batch_ = true;
    int64_t lock_ms = lock_timeout_ms_;
    int* level = &batch_guc_level_;
    pg_guard([&] {
        // Like a function's SET clause: undone when the batch ends, however it ends.
        *level = NewGUCNestLevel();
        char buf[32];
        snprintf(buf, sizeof buf, "%lld", static_cast<long long>(lock_ms));
        set_config_option("lock_timeout", buf, PGC_USERSET, PGC_S_SESSION, GUC_ACTION_SAVE, true, 0, false);
    });
    if (identity_active_) apply_identity_guc();
}

// A 57014 from PostgreSQL: which of the ways to cancel a batch it was.
void SpiEngine::classify_cancel(const Error& e, bool timer_expired) {
    if (timer_expired)  // statement_timeout_ms: shrink the batch, retry (the runner's rule)
        throw Error(ErrorKind::StatementTimeout, e.what(), e.sqlstate(), e.detail(), e.hint());
    if (mode_ != Mode::Worker)
        // The caller's cancel request or its own statement_timeout: end the call, record nothing.
        throw bgupdate::CallerCancel(ErrorKind::Canceled, e.what(), e.sqlstate(), e.detail(), e.hint());
    uint32 target = worker_cancel_target();
    const std::string update = bgupdate::update_of_claim_key(claimed_);
    if (target != 0 && !claimed_.empty() && target == name_hash(update))
        throw Error(ErrorKind::Canceled, "the batch was cancelled by cancel('" + update + "')", e.sqlstate());
    if (target != 0)  // meant for a batch of another update that had just ended here: not this one's failure
        throw Error(ErrorKind::LockTimeout, "the batch was interrupted by a cancel() meant for another update; it is "
                                            "retried", "55P03");
}

// Session state a batch can make that neither a transaction end, the GUC
// rollback nor the security-restricted operation (which refuses LISTEN,
// PREPARE, WITH HOLD cursors, temp objects) undoes: session advisory locks.
// One left in the worker would block every session waiting for it. Only keys
// pg_advisory_lock can name (field 4 = 1 or 2) are looked at: the update and
// table claims use other values. The worker has none of its own.
namespace {
using AdvisoryKey = std::array<uint32_t, 5>;
std::vector<AdvisoryKey> held_advisory_locks() {
    LockData* all = nullptr;
    pg_guard([&] { all = GetLockStatusData(); });
    std::vector<AdvisoryKey> keys;
    for (int i = 0; i < all->nelements; i++) {
        const LockInstanceData* l = &all->locks[i];
        if (l->pid != MyProcPid || l->locktag.locktag_type != LOCKTAG_ADVISORY) continue;
        if (l->locktag.locktag_field4 != 1 && l->locktag.locktag_field4 != 2) continue;
        for (LOCKMODE mode : {ShareLock, ExclusiveLock})
            if (l->holdMask & LOCKBIT_ON(mode))
                keys.push_back({l->locktag.locktag_field1, l->locktag.locktag_field2, l->locktag.locktag_field3,
                                l->locktag.locktag_field4, static_cast<uint32_t>(mode)});
    }
    pg_guard([&] { pfree(all->locks); pfree(all); });
    return keys;
}
}  // namespace

// Worker only, between transactions (so every lock left is a session lock).
// A user's session runs only its own role's batches, so what they leave there
// is that role's own doing, as if it had run the statements itself.
void SpiEngine::forget_session_leftovers() {
    if (mode_ != Mode::Worker) return;
    std::vector<AdvisoryKey> now = held_advisory_locks();
    for (const AdvisoryKey& k : now) {
        LOCKTAG tag;
        SET_LOCKTAG_ADVISORY(tag, k[0], k[1], k[2], static_cast<uint16>(k[3]));
        LOCKMODE mode = static_cast<LOCKMODE>(k[4]);
        pg_guard([&] { while (LockHeldByMe(&tag, mode) && LockRelease(&tag, mode, true)) {} });
    }
}

void SpiEngine::end_batch_scope(bool commit) {
    if (!in_batch_) return;
    in_batch_ = false;
    // Nothing the batch set survives it, committed or not: a transaction or
    // subtransaction commit would otherwise keep a non-local set_config.
    rollback_guc_level(batch_guc_level_);
    tx_->end_batch(commit);
    forget_session_leftovers();
    // The caller's transaction was committed (CALL run()), ending our levels.
    if (tx_->ends_caller_transaction()) enter_safe_search_path();
}

void SpiEngine::begin_batch(int64_t lock_timeout_ms, int64_t statement_timeout_ms) {
    if (in_batch_) end_batch_scope(true);
    finish_transaction();
    lock_timeout_ms_ = lock_timeout_ms;
    statement_timeout_ms_ = statement_timeout_ms;
    start_batch_scope();
}

void SpiEngine::commit_batch() { end_batch_scope(true); }

void SpiEngine::rollback_batch() { end_batch_scope(false); }

// After a caught PostgreSQL error the (sub)transaction it happened in is
// unusable: roll it back now. Inside a batch a fresh, empty batch scope takes
// its place, so the runner's commit_batch/rollback_batch still pair up.
void SpiEngine::after_error() {
    if (!in_batch_) {
        // A session's error goes up to the SQL entry, which aborts the transaction.
        if (!tx_->recover_outside_batch()) unusable_ = true;
        return;
    }
    in_batch_ = false;
    tx_->abort_batch();
    forget_session_leftovers();
    start_batch_scope();
}

void SpiEngine::exec_outside_transaction(const std::string& sql) {
    if (!tx_->can_run_top_level())
        throw Error(ErrorKind::Failure,
                    "CREATE INDEX CONCURRENTLY cannot run inside a transaction; the background worker runs index "
                    "updates (make sure bgupdate is in shared_preload_libraries and wait with has_completed())",
                    "25001");
    // Commit what the batch did so far; CIC waits for every older transaction,
    // ours included, so none may stay open while it runs. The batch's settings
    // are undone first (end_batch_scope), and set again for what follows.
    bool was_batch = in_batch_;
    end_batch_scope(true);
    tx_->finish_transaction();
    std::string search_path = identity_active_ ? identity_search_path_ : std::string();
    std::string failure;
    int code = 0;
    // CREATE INDEX CONCURRENTLY waits for every older transaction: one a role
    // keeps open would hold this worker, so other work gets a helper meanwhile.
    note_long_statement(true);
    run_top_level(sql.c_str(), search_path.empty() ? nullptr : search_path.c_str(), &failure, &code);
    note_long_statement(false);
    if (was_batch) start_batch_scope();
    if (failure.empty()) return;
    try {
        throw_pg_error(code, failure.c_str(), nullptr, nullptr);
    } catch (const Error& e) {
        if (e.kind() == ErrorKind::Canceled) classify_cancel(e, false);  // cancel(): not bounded by a timer
        throw;
    }
}

// ---- claims (README "Who runs a batch, and when") ----
// An update's claim is an advisory lock under a key SQL cannot take. The
// worker's are session locks: they span the transactions of one batch (CREATE
// INDEX CONCURRENTLY commits in between) and are given back only after the
// batch's transaction has ended. A session's are transaction locks: they end
// with the caller's transaction and never earlier (not at the end of the
// batch's subtransaction), so no other runner can claim the update while this
// transaction's work and progress are not committed yet.

namespace {

void claim_tag(LOCKTAG* tag, const std::string& name) {
    // Field 4 = 5: beyond what pg_advisory_lock(int4, int4) (2) or (int8) (1)
    // can take, so no session can hold an update back through SQL.
    SET_LOCKTAG_ADVISORY(*tag, MyDatabaseId, 0x62677570 /* "bgup" */, name_hash(name), 5);
}

// The process holding an update's claim in this database, or 0.
int claim_holder(const std::string& name) {
    LOCKTAG tag;
    claim_tag(&tag, name);
    LockData* all = nullptr;
    pg_guard([&] { all = GetLockStatusData(); });
    int pid = 0;
    for (int i = 0; i < all->nelements && !pid; i++) {
        const LockInstanceData* l = &all->locks[i];
        if (l->locktag.locktag_type == LOCKTAG_ADVISORY && l->locktag.locktag_field1 == tag.locktag_field1 &&
            l->locktag.locktag_field2 == tag.locktag_field2 && l->locktag.locktag_field3 == tag.locktag_field3 &&
            l->locktag.locktag_field4 == tag.locktag_field4 && (l->holdMask & LOCKBIT_ON(ExclusiveLock)))
            pid = l->pid;
    }
    pg_guard([&] { pfree(all->locks); pfree(all); });
    return pid;
}

}  // namespace

bool SpiEngine::try_claim_update(const std::string& update_name) {
    LOCKTAG tag;
    claim_tag(&tag, update_name);
    const bool session_lock = mode_ == Mode::Worker;
    LockAcquireResult r = LOCKACQUIRE_NOT_AVAIL;
    pg_guard([&] { r = LockAcquire(&tag, ExclusiveLock, session_lock, true); });
    if (r == LOCKACQUIRE_NOT_AVAIL) return false;
    // Another worker of this database is on it (perhaps sleeping between
    // batches): leave it to that worker, take an independent one.
    if (mode_ == Mode::Worker && !lease_update(update_name)) {
        pg_guard([&] { LockRelease(&tag, ExclusiveLock, true); });
        return false;
    }
    claimed_ = update_name;
    if (mode_ == Mode::Worker) {
        const std::string update = bgupdate::update_of_claim_key(update_name);
        watchdog_name(update);
        note_running_update(name_hash(update));
        const std::string part = bgupdate::describe_claim_key(update_name).substr(update.size());
        report_activity("bgupdate: running background update '" + update + "'" + part);
    }
    return true;
}

void SpiEngine::release_update(const std::string& update_name) {
    if (mode_ == Mode::Worker) {
        LOCKTAG tag;
        claim_tag(&tag, update_name);
        // No SPI: works in an aborted transaction and between transactions.
        pg_guard([&] { LockRelease(&tag, ExclusiveLock, true); });
        watchdog_name("");
        note_running_update(0);
        last_update_ = update_name;
        report_activity("bgupdate: between batches (last: '" + update_name + "')");
    }
    claimed_.clear();  // a session's claim ends with its transaction
}

std::string SpiEngine::background_runner_unavailable() {
    if (!shared) return "no background worker runs here (bgupdate is not in shared_preload_libraries)";
    if (!worker_enabled) return "the background workers are switched off (bgupdate.worker_enabled = off)";
    bool standby = false;
    pg_guard([&] { standby = RecoveryInProgress(); });
    if (standby) return "this server is a standby, where no background worker runs";
    return "";
}

// The runner holding the update's claim, or any worker of this database
// (one may hold the claim on the update's table while its CREATE INDEX
// CONCURRENTLY waits for this very transaction), waits for a lock this
// session holds: waiting for it would never end.
bool SpiEngine::holds_lock_the_runner_needs(const std::string& update_name) {
    int pid = claim_holder(update_name);
    std::string holder = pid && pid != MyProcPid ? std::to_string(pid) : "NULL";
    auto rows = query(
        "SELECT EXISTS (SELECT FROM pg_catalog.pg_stat_activity a WHERE (a.pid OPERATOR(pg_catalog.=) " + holder +
        " OR (a.backend_type OPERATOR(pg_catalog.=) 'bgupdate worker' AND a.datid OPERATOR(pg_catalog.=) " +
        std::to_string(MyDatabaseId) + ")) AND pg_catalog.pg_backend_pid() OPERATOR(pg_catalog.=) ANY "
        "(pg_catalog.pg_blocking_pids(a.pid)))");
    return !rows.empty() && rows[0][0].as_text() == "t";
}

bool SpiEngine::cancel_running_batch(const std::string& update_name) {
    // A worker's batch: the worker is told whose batch the cancel is for, so
    // that one landing just after that batch ended costs the next batch nothing.
    if (int pid = request_worker_cancel(name_hash(update_name))) {
        if (kill(pid, SIGINT) != 0) return false;
        return true;
    }
    // A session's batch (sessions run only their own role's updates): as
    // pg_cancel_backend allows it, to a role with that session's privileges.
    int pid = claim_holder(update_name);
    if (!pid || pid == MyProcPid) return false;
    bool allowed = false;
    pg_guard([&] {
        PGPROC* proc = BackendPidGetProc(pid);
        allowed = proc && has_privs_of_role(GetUserId(), proc->roleId);
    });
    if (!allowed)
        throw Error(ErrorKind::PermissionDenied, "permission denied to cancel the batch of background update '" +
                                                     update_name + "' running in process " + std::to_string(pid));
    return kill(pid, SIGINT) == 0;
}

void SpiEngine::notice(const std::string& message) {
    const char* m = message.c_str();
    pg_guard([&] { ereport(NOTICE, (errmsg("bgupdate: %s", m))); });
}

bool SpiEngine::keep_going() { return mode_ != Mode::Worker || !worker_should_stop(); }

void SpiEngine::report_activity(const std::string& what) {
    if (mode_ != Mode::Worker) return;
    const char* a = what.c_str();
    pg_guard([&] { pgstat_report_activity(STATE_RUNNING, a); });
}

int64_t SpiEngine::exec_unbounded(const std::string& sql) {
    unbounded_ = true;
    try {
        int64_t n = exec(sql);
        unbounded_ = false;
        return n;
    } catch (...) {
        unbounded_ = false;
        throw;
    }
}

// ---- user functions ----

namespace {

// The engine's look-up: function_lookup.* run under the error boundary.
void lookup_proc(const std::string& function, FunctionInfo* info) {
    const char* text = function.c_str();
    pg_guard([&] { find_function(text, info); });
}

}  // namespace

std::string SpiEngine::resolve_function(const std::string& function, bool is_hook) {
    FunctionInfo p;
    lookup_proc(function, &p);
    const char* wanted = is_hook ? "(update_name text) returning a number"
                                 : "(progress jsonb, batch_size integer) returning an integer";
    if (!p.found)
        throw Error(ErrorKind::BadInput, "function " + function + " does not exist (or its name is ambiguous: give "
                                         "its argument types); expected " + wanted);
    bool ok = is_hook ? is_hook_signature(p) : is_handler_signature(p);
    std::string sig = p.signature;
    if (!ok) throw Error(ErrorKind::BadInput, "function " + sig + " has the wrong signature; expected " + wanted);
    if (!p.may_execute) throw Error(ErrorKind::BadInput, "permission denied for function " + sig);
    return sig;
}

int64_t SpiEngine::call_handler(const std::string& function, const std::string& progress_json, int64_t batch_size) {
    FunctionInfo p;
    lookup_proc(function, &p);
    if (!p.found || p.nargs != 2)
        throw Error(ErrorKind::BadInput, "handler function " + function + " no longer exists");
    std::string sql = std::string("SELECT ") + p.qualified + "($1::" + (p.args[0] == JSONOID ? "json" : "jsonb") +
                      ", $2::" + (p.args[1] == INT8OID ? "bigint" : p.args[1] == INT2OID ? "smallint" : "integer") +
                      ")::bigint";
    Oid types[2] = {TEXTOID, INT8OID};
    Datum values[2];
    const char* progress = progress_json.c_str();
    pg_guard([&] { values[0] = CStringGetTextDatum(progress); });
    // A batch size is a hint: one beyond the handler's integer type is given as its maximum.
    const int64_t most = p.args[1] == INT8OID ? INT64_MAX : p.args[1] == INT2OID ? PG_INT16_MAX : PG_INT32_MAX;
    values[1] = Int64GetDatum(batch_size < most ? batch_size : most);
    Result res;
    run_sql(sql, 2, types, values, nullptr, &res);
    if (res.nrows == 0 || !res.cells[0])  // NULL is not a count: never read as 0 items
        throw Error(ErrorKind::Failure, "handler function " + function +
                                            " returned NULL; it must return the number of items it processed");
    return strtoll(res.cells[0], nullptr, 10);
}

std::optional<double> SpiEngine::call_hook(const std::string& function, const std::string& update_name) {
    FunctionInfo p;
    lookup_proc(function, &p);
    if (!p.found || p.nargs != 1) throw Error(ErrorKind::BadInput, "hook function " + function + " does not exist");
    std::string sql = std::string("SELECT ") + p.qualified + "($1::text)::float8";
    Oid types[1] = {TEXTOID};
    Datum values[1];
    const char* name = update_name.c_str();
    pg_guard([&] { values[0] = CStringGetTextDatum(name); });
    // A hook is user code too: restricted, and nothing it sets outlives it.
    // It runs as the role that owns its function, never as the worker's
    // superuser: a hook function a superuser set but another role owns (and
    // may redefine) must not run with the superuser's rights.
    SettingScope as_owner(p.owner);
    Result res;
    hook_depth_++;  // bounded by statement_timeout_ms like the batch's own code
    try {
        run_sql(sql, 1, types, values, nullptr, &res);
    } catch (...) {
        hook_depth_--;
        throw;
    }
    hook_depth_--;
    as_owner.end();
    if (res.nrows == 0 || !res.cells[0]) return std::nullopt;
    return strtod(res.cells[0], nullptr);
}

// ---- identity ----

namespace {

// An owner is stored as its role OID (a role created later under a dropped
// role's name inherits nothing). Rows from before 1.1 may hold a name.
Oid owner_oid(const std::string& owner) {
    if (owner.empty()) return InvalidOid;
    if (owner.find_first_not_of("0123456789") == std::string::npos) {
        Oid oid = static_cast<Oid>(strtoul(owner.c_str(), nullptr, 10));
        bool exists = false;
        pg_guard([&] { exists = SearchSysCacheExists1(AUTHOID, ObjectIdGetDatum(oid)); });
        return exists ? oid : InvalidOid;
    }
    Oid oid = InvalidOid;
    const char* name = owner.c_str();
    pg_guard([&] { oid = get_role_oid(name, true); });
    return oid;
}

}  // namespace

bgupdate::Identity SpiEngine::current_identity() {
    Oid user = InvalidOid;
    pg_guard([&] { user = GetUserId(); });
    std::string path = caller_search_path_;
    if (mode_ == Mode::Worker) {
        const char* p = nullptr;
        pg_guard([&] { p = GetConfigOption("search_path", false, false); });
        path = p ? p : "";
    }
    return bgupdate::Identity{std::to_string(user), path, true};
}

void SpiEngine::apply_identity_guc() {
    const char* p = identity_search_path_.c_str();
    Oid role = identity_role_;
    int sec = saved_sec_context_;
    if (identity_restricted_) sec |= SECURITY_LOCAL_USERID_CHANGE | SECURITY_RESTRICTED_OPERATION;
    int* level = &identity_guc_level_;
    pg_guard([&] {
        // As VACUUM, ANALYZE and CREATE INDEX run user code (CVE-2022-1552):
        // as the owner, no SET ROLE, no temporary objects, no cursors kept.
        SetUserIdAndSecContext(role, sec);
        *level = NewGUCNestLevel();
        set_config_option("search_path", p, PGC_USERSET, PGC_S_SESSION, GUC_ACTION_SAVE, true, 0, false);
    });
}

void SpiEngine::enter_identity(const bgupdate::Identity& who) {
    Oid role = owner_oid(who.owner);
    if (!OidIsValid(role))
        throw Error(ErrorKind::BadInput, "the role (" + who.owner + ") that registered this update no longer exists");
    pg_guard([&] { GetUserIdAndSecContext(&saved_userid_, &saved_sec_context_); });
    identity_role_ = role;
    identity_search_path_ = without_leading_temp_schema(who.search_path);
    identity_restricted_ = who.restricted;
    identity_active_ = true;
    apply_identity_guc();
}

void SpiEngine::leave_identity() {
    if (!identity_active_) return;
    identity_active_ = false;
    rollback_guc_level(identity_guc_level_);
    identity_guc_level_ = 0;
    Oid user = saved_userid_;
    int sec = saved_sec_context_;
    pg_guard([&] { SetUserIdAndSecContext(user, sec); });
}

bool SpiEngine::may_manage(const std::string& owner) {
    Oid role = owner_oid(owner);
    bool ok = false;
    pg_guard([&] { ok = OidIsValid(role) ? has_privs_of_role(GetUserId(), role) : superuser(); });
    return ok;
}

bool SpiEngine::may_delete_from(const std::string& own_table) {
    auto r = query("SELECT pg_catalog.has_table_privilege(" + dialect_.literal(own_table) + ", 'DELETE')");
    std::string v = r[0][0].as_text();
    return v == "t" || v == "true";
}

bool SpiEngine::is_caller(const std::string& owner) {
    Oid role = owner_oid(owner);
    Oid me = InvalidOid;
    pg_guard([&] { me = GetUserId(); });
    return OidIsValid(role) && role == me;
}

std::string SpiEngine::owner_name(const std::string& owner) {
    Oid role = owner_oid(owner);
    if (!OidIsValid(role)) return "a dropped role (" + owner + ")";
    char* name = nullptr;
    pg_guard([&] { name = GetUserNameFromId(role, false); });
    return std::string("role ") + name;
}

// ---- settings ----

std::optional<std::string> SpiEngine::get_setting(const std::string& key) {
    if (key == "enabled") {
        auto rows = query("SELECT value FROM bgupdate.config WHERE key = 'enabled'");
        if (rows.empty() || rows[0][0].is_null()) return std::nullopt;
        return rows[0][0].as_text();
    }
    std::string guc = "bgupdate." + key;
    const char* name = guc.c_str();
    const char* value = nullptr;
    pg_guard([&] { value = GetConfigOption(name, true, false); });
    if (!value) return std::nullopt;
    return std::string(value);
}

void SpiEngine::set_setting(const std::string& key, const std::string& value) {
    if (key == "enabled") {
        exec("INSERT INTO bgupdate.config (key, value) VALUES ('enabled', " + dialect_.literal(value) +
             ") ON CONFLICT (key) DO UPDATE SET value = excluded.value");
        if (value == "true") wake_worker_at_commit();
        return;
    }
    std::string guc = "bgupdate." + key;
    const char* name = guc.c_str();
    const char* v = value.c_str();
    pg_guard([&] {
        set_config_option(name, v, superuser() ? PGC_SUSET : PGC_USERSET, PGC_S_SESSION, GUC_ACTION_SET, true, 0,
                          false);
    });
}

bool SpiEngine::sleep_ms(int64_t ms) {
    if (mode_ == Mode::Worker) {
        finish_transaction();  // never sleep inside a transaction
        return worker_pause(ms);
    }
    // A session: a cancel (or statement timeout) ends the sleep with an error.
    pg_guard([&] {
        (void)WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH, static_cast<long>(ms),
                        PG_WAIT_EXTENSION);
        ResetLatch(MyLatch);
        CHECK_FOR_INTERRUPTS();
    });
    return true;
}

}  // namespace bgupdate_pg
