// The SQL API of schema bgupdate: thin wrappers that convert arguments,
// call bgupdate::Api on a session SpiEngine and convert the result. Every
// entry runs inside invoke_cpp (C++ exceptions -> ereport) and every
// PostgreSQL call inside pg_guard (ereport -> C++ exception).
#include <algorithm>
#include <optional>
#include <type_traits>
#include <utility>
#include <string>
#include <vector>

#include "api.h"
#include "handler_kind.h"
#include "json.h"
#include "runner.h"
#include "sql_arguments.h"
#include "sql_surface.h"
#include "error_boundary.h"
#include "shmem.h"
#include "spi_engine.h"
#include "version.h"

using bgupdate::Api;
using bgupdate_pg::invoke_cpp;
using bgupdate_pg::pg_guard;
using bgupdate_pg::SpiEngine;

namespace {

[[noreturn]] void null_argument(const char* name) {
    bgupdate::bad_input(std::string(name) + " must not be NULL");
}

// Argument i's value, converted under pg_guard (outside Args: its text()
// would hide PostgreSQL's type `text` from the macros).
std::string text_argument(FunctionCallInfo fcinfo, int i) {
    char* s = nullptr;
    pg_guard([&]() noexcept { s = text_to_cstring(PG_GETARG_TEXT_PP(i)); });
    return std::string(s);
}

std::string jsonb_argument(FunctionCallInfo fcinfo, int i) {
    char* s = nullptr;
    pg_guard([&]() noexcept {
        Jsonb* jb = PG_GETARG_JSONB_P(i);
        s = JsonbToCString(nullptr, &jb->root, VARSIZE(jb));
    });
    return std::string(s);
}

std::vector<std::string> text_array_argument(FunctionCallInfo fcinfo, int i, const char* name) {
    Datum* elems = nullptr;
    bool* nulls = nullptr;
    int n = 0;
    char** texts = nullptr;
    pg_guard([&]() noexcept {
        ArrayType* arr = PG_GETARG_ARRAYTYPE_P(i);
        if (ARR_NDIM(arr) > 1)
            ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE), errmsg("array must be one-dimensional")));
        deconstruct_array(arr, TEXTOID, -1, false, TYPALIGN_INT, &elems, &nulls, &n);
        texts = static_cast<char**>(palloc0(sizeof(char*) * (n + 1)));
        for (int k = 0; k < n; k++)
            if (!nulls[k]) texts[k] = TextDatumGetCString(elems[k]);
    });
    std::vector<std::string> out;
    for (int k = 0; k < n; k++) {
        if (!texts[k]) bgupdate::bad_input(std::string(name) + " must not contain NULL");
        out.emplace_back(texts[k]);
    }
    return out;
}

// The arguments of one SQL call, converted to C++ values, found by the names
// the SQL surface declares for the function (sql_surface.h) and converted by
// their declared types (Json: jsonb, TextArray: text[]); errors name them.
class Args {
public:
    Args(FunctionCallInfo fcinfo, const bgupdate::sql::Function& fn) : fcinfo(fcinfo), fn_(fn) {}

    // Passed and not NULL (an argument a newer script added is absent when
    // an older signature is called).
    bool has(const char* name) const {
        int i = at(name);
        return i < PG_NARGS() && !PG_ARGISNULL(i);
    }

    std::optional<std::string> opt_text(const char* name) const {
        if (!has(name)) return std::nullopt;
        int i = at(name);
        return fn_.args[i].type == bgupdate::sql::Type::Json ? jsonb_argument(fcinfo, i) : text_argument(fcinfo, i);
    }

    std::string text(const char* name) const {
        auto v = opt_text(name);
        if (!v) null_argument(name);
        return *v;
    }

    int64_t integer(const char* name) const {
        if (!has(name)) null_argument(name);
        return PG_GETARG_INT64(at(name));
    }

    bool boolean(const char* name) const {
        if (!has(name)) null_argument(name);
        return PG_GETARG_BOOL(at(name));
    }

    bool opt_boolean(const char* name, bool dflt) const { return has(name) ? PG_GETARG_BOOL(at(name)) : dflt; }

    std::vector<std::string> string_list(const char* name) const {
        if (!has(name)) null_argument(name);
        return text_array_argument(fcinfo, at(name), name);
    }

    FunctionCallInfo fcinfo;  // named so that PG_ARG* macros work in the methods

private:
    // The declared position of `name`; naming an undeclared one is a programming error.
    int at(const char* name) const {
        int i = fn_.position(name);
        if (i < 0)
            throw bgupdate::Error(bgupdate::ErrorKind::Failure, std::string("internal error: bgupdate.") + fn_.name +
                                                                    " declares no argument '" + name + "'");
        return i;
    }
    const bgupdate::sql::Function& fn_;
};

Datum jsonb_datum(const std::string& s) {
    Datum d = 0;
    const char* c = s.c_str();
    pg_guard([&]() noexcept { d = DirectFunctionCall1(jsonb_in, CStringGetDatum(c)); });
    return d;
}

// The schema functions' (version, file_name, sql or reason), read in order
// (a braced list evaluates left to right: the first bad one is reported).
struct SchemaFileArgs {
    int64_t version;
    std::string file_name, text;
};
SchemaFileArgs schema_file_args(const Args& a, const char* third) {
    return SchemaFileArgs{a.integer("version"), a.text("file_name"), a.text(third)};
}

bgupdate::RunScope session_scope() {
    bgupdate::RunScope scope;
    scope.only_manageable = true;  // a role sees only updates it could manage
    scope.only_own_role = true;    // and runs only its own role's (another role's code never runs here)
    return scope;
}

// A runner reads an update's progress after taking its claim and must see the
// last batch another runner committed: a snapshot taken when the caller's
// transaction began (REPEATABLE READ, SERIALIZABLE) could predate it.
void require_read_committed(const char* fn) {
    bool snapshot_per_transaction = false;
    pg_guard([&]() noexcept { snapshot_per_transaction = IsolationUsesXactSnapshot(); });
    if (snapshot_per_transaction)
        throw bgupdate::Error(bgupdate::ErrorKind::NotNow,
                              std::string(fn) + " needs a READ COMMITTED transaction: at REPEATABLE READ or "
                              "SERIALIZABLE this transaction's snapshot may predate other runners' latest batches",
                              "25000", "", "SET TRANSACTION ISOLATION LEVEL READ COMMITTED at the start of the "
                                           "transaction, or call it in a transaction of its own");
}

// The library works against the schema version it was built for: before
// ALTER EXTENSION bgupdate UPDATE (an older schema) it refuses clearly instead
// of failing on objects the newer scripts added. Looked up once per transaction.
// The version is the top-level VERSION file's, as is the control file's.
const char* const kSchemaVersion = bgupdate::version();
LocalTransactionId g_version_checked_in = InvalidLocalTransactionId;

void require_schema_version() {
    if (MyProc && MyProc->lxid == g_version_checked_in) return;
    char version[64] = "";
    pg_guard([&]() noexcept {
        if (SPI_execute("SELECT extversion FROM pg_catalog.pg_extension WHERE extname = 'bgupdate'", true, 1) ==
                SPI_OK_SELECT &&
            SPI_processed == 1) {
            char* v = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
            if (v) strlcpy(version, v, sizeof version);
        }
    });
    if (strcmp(version, kSchemaVersion) != 0) {
        pg_guard([&]() noexcept { SPI_finish(); });
        throw bgupdate::Error(bgupdate::ErrorKind::NotNow,
                              std::string("this database's bgupdate schema is version ") +
                                  (version[0] ? version : "(unknown)") + ", the installed library needs " +
                                  kSchemaVersion,
                              "55000", "", "run ALTER EXTENSION bgupdate UPDATE");
    }
    if (MyProc) g_version_checked_in = MyProc->lxid;
}

// SPI connection and a session engine for the duration of `body`. A
// bgupdate::Error is rethrown after SPI is left tidy; `reportable` (when
// given) is set to whether the caller may report it instead of raising it -
// not after a PostgreSQL error outside any batch, which must abort the
// caller's transaction.
template <typename F>
void with_api(SpiEngine::Mode mode, F&& body, bool* reportable = nullptr) {
    pg_guard([&]() noexcept {
        if (SPI_connect_ext(mode == SpiEngine::Mode::Procedure ? SPI_OPT_NONATOMIC : 0) != SPI_OK_CONNECT)
            elog(ERROR, "SPI_connect failed");
    });
    require_schema_version();
    bool recoverable = true;
    try {
        SpiEngine engine(mode);
        Api api(engine);
        try {
            body(api);
        } catch (...) {
            recoverable = !engine.transaction_unusable();
            throw;
        }
    } catch (const bgupdate::Error&) {
        if (reportable) *reportable = recoverable;
        if (recoverable) pg_guard([&]() noexcept { SPI_finish(); });
        throw;
    }
    pg_guard([&]() noexcept { SPI_finish(); });
}

// The one shape of every SQL function of the API: convert the arguments,
// call the Api on a session engine, convert the result (void, bool or
// Datum). C++ exceptions become PostgreSQL errors at the end (invoke_cpp).
template <typename Body>
Datum api_function(FunctionCallInfo fcinfo, const bgupdate::sql::Function& declared, Body&& body) {
    return invoke_cpp([&]() -> Datum {
        Args args(fcinfo, declared);
        using Result = decltype(body(args, std::declval<Api&>()));
        if constexpr (std::is_void_v<Result>) {
            with_api(SpiEngine::Mode::Session, [&](Api& api) { body(args, api); });
            PG_RETURN_VOID();
        } else {
            Result result{};
            with_api(SpiEngine::Mode::Session, [&](Api& api) { result = body(args, api); });
            if constexpr (std::is_same_v<Result, bool>) return BoolGetDatum(result);
            else return result;
        }
    });
}

}  // namespace

namespace {

// The SQL function `sql_name` registers an update of the kind whose row names
// it: its arguments are read as the surface row declares them.
Datum register_kind_function(FunctionCallInfo fcinfo, const char* sql_name) {
    const bgupdate::HandlerKindTraits* kind = bgupdate::handler_kind_registered_by(sql_name);
    const bgupdate::sql::Function* declared = bgupdate::sql::find_function(sql_name);
    if (!kind || !declared)
        return invoke_cpp([&]() -> Datum {
            throw bgupdate::Error(bgupdate::ErrorKind::Failure, std::string("internal error: bgupdate.") + sql_name +
                                                                    " registers no handler kind");
        });
    return api_function(fcinfo, *declared, [kind](Args& a, Api& api) {
        api.register_update(kind->kind, bgupdate::ArgumentsOf<Args>(a));
    });
}

}  // namespace

// ---- the application-run batch protocol ----
// On PostgreSQL the application's own transaction is the batch: batch_begin()
// claims the next update it runs itself (inside BEGIN), the application runs
// its statements, batch_end() records items and progress, and the
// application's COMMIT makes both durable together. The claim is held until
// that transaction ends. A rollback (or batch_fail(), which raises) cannot
// write anything in the aborted transaction: the failure is recorded by the
// next batch_begin() on this connection. A backend runs one transaction at a
// time, so this state is per backend.
namespace {

std::optional<bgupdate::ApplicationBatch> g_open_batch;  // between batch_begin and batch_end
std::string g_batch_in_transaction;                      // the update whose batch this transaction holds
std::optional<bgupdate::ApplicationBatch> g_ended_batch; // ended by batch_end in this transaction
std::optional<bgupdate::ApplicationBatch> g_abandoned;   // ended without batch_end: recorded next time
std::string g_abandoned_reason;
std::string g_fail_message;  // batch_fail()'s message, for that record
bool g_xact_callback_registered = false;
// The (sub)transaction the open batch, or batch_end()'s record of it, lives
// in: a ROLLBACK TO a savepoint taken before it undoes the batch.
SubTransactionId g_batch_subxact = InvalidSubTransactionId;
char g_refused_commit[512];  // the error a COMMIT with an open batch gets

void application_batch_xact_callback(XactEvent event, void*) {
    // COMMIT with the batch still open would commit its work without its
    // progress (the rows would be done again): refused, so the transaction
    // rolls back and the failure is recorded.
    if (event == XACT_EVENT_PRE_COMMIT && g_open_batch) {
        snprintf(g_refused_commit, sizeof g_refused_commit,
                 "bgupdate: COMMIT with the batch of background update \"%s\" still open: its work would be "
                 "committed without its progress", g_open_batch->claimed.row.update_name.c_str());
        ereport(ERROR, (errcode(ERRCODE_INVALID_TRANSACTION_STATE), errmsg("%s", g_refused_commit),
                        errhint("call batch_end(items, progress) (or batch_fail()) before COMMIT")));
    }
    bool abort = event == XACT_EVENT_ABORT || event == XACT_EVENT_PARALLEL_ABORT;
    if (!abort && event != XACT_EVENT_COMMIT && event != XACT_EVENT_PARALLEL_COMMIT) return;
    g_batch_subxact = InvalidSubTransactionId;
    try {
        if (abort && !g_open_batch && g_ended_batch) {
            // Rolled back after batch_end(): the work and its record are gone.
            g_abandoned = std::move(g_ended_batch);
            g_abandoned_reason = "the application's transaction was rolled back after batch_end()";
        }
        g_ended_batch.reset();
        if (g_open_batch) {
            g_abandoned_reason = !abort ? "the application committed without calling batch_end(): the batch's "
                                          "progress was not saved"
                                 : !g_fail_message.empty() ? g_fail_message
                                                           : "the application's transaction was rolled back before "
                                                             "batch_end()";
            g_abandoned = std::move(g_open_batch);
            g_open_batch.reset();
        }
        // The batch's claim was a transaction lock: it ended with the transaction.
        g_batch_in_transaction.clear();
        g_fail_message.clear();
    } catch (...) {
        // Nothing may escape into PostgreSQL.
    }
}

void application_batch_subxact_callback(SubXactEvent event, SubTransactionId mine, SubTransactionId parent,
                                        void*) noexcept {
    if (mine != g_batch_subxact || g_batch_subxact == InvalidSubTransactionId) return;
    if (event == SUBXACT_EVENT_COMMIT_SUB) {
        g_batch_subxact = parent;  // it now lives in the enclosing one
        return;
    }
    if (event != SUBXACT_EVENT_ABORT_SUB) return;
    try {
        if (g_open_batch) {
            g_abandoned_reason = !g_fail_message.empty() ? g_fail_message
                                                         : "the application rolled back to a savepoint before batch_end()";
            g_abandoned = std::move(g_open_batch);
            g_open_batch.reset();
        } else if (g_ended_batch) {
            g_abandoned_reason = "the application rolled back to a savepoint after batch_end(): the batch's record is gone";
            g_abandoned = std::move(g_ended_batch);
            g_ended_batch.reset();
        }
        g_batch_in_transaction.clear();  // its claim went with the subtransaction
        g_fail_message.clear();
    } catch (...) {
    }
    g_batch_subxact = InvalidSubTransactionId;
}

bgupdate::RunScope application_scope() {
    bgupdate::RunScope scope = session_scope();
    scope.callers_transaction = true;
    return scope;
}

// Nothing that runs or opens batches may run inside the application's open
// batch: it would run its batches inside the application's transaction.
void refuse_inside_application_batch(const char* fn) {
    if (g_open_batch)
        throw bgupdate::Error(bgupdate::ErrorKind::NotNow,
                              std::string(fn) + " cannot run inside a batch (the application's batch of background "
                              "update '" + g_open_batch->claimed.row.update_name + "' is open in this transaction)",
                              "55000", "", "end it with batch_end() or batch_fail() first");
}

void require_transaction_block(const char* fn) {
    bool in_block = false;
    pg_guard([&]() noexcept { in_block = IsTransactionBlock(); });
    if (!in_block)
        throw bgupdate::Error(bgupdate::ErrorKind::NotNow,
                              std::string(fn) + "() must run inside the application's transaction (BEGIN ... COMMIT)",
                              "25P01", "", "the transaction is the batch: its COMMIT makes the work and the progress "
                                           "durable together");
}

}  // namespace

// Defines the C symbol bgupdate_<name> of the SQL function `name` of the
// SQL surface (PostgreSQL looks it up by name); the body sees the function's
// declaration (its arguments) as `declared`. A name the surface does not
// declare does not compile.
#define BGUPDATE_SQL_FUNCTION(name)                                                                         \
    static Datum name##_body(FunctionCallInfo fcinfo, const bgupdate::sql::Function& declared);            \
    PG_FUNCTION_INFO_V1(bgupdate_##name);                                                                   \
    Datum bgupdate_##name(PG_FUNCTION_ARGS) {                                                               \
        static constexpr const bgupdate::sql::Function& surface = bgupdate::sql::function(#name);          \
        return name##_body(fcinfo, surface);                                                                \
    }                                                                                                       \
    static Datum name##_body(FunctionCallInfo fcinfo, [[maybe_unused]] const bgupdate::sql::Function& declared)

extern "C" {

PG_MODULE_MAGIC;

// Every handler kind's register_* function (its row in
// common/handlers/handler_kinds.cpp names it) is one C function: a new kind's
// CREATE FUNCTION names 'bgupdate_register_kind_update', which finds the kind
// from the name of the SQL function called. The symbols the scripts of
// installed versions name are kept as aliases of it.
PG_FUNCTION_INFO_V1(bgupdate_register_kind_update);
Datum bgupdate_register_kind_update(PG_FUNCTION_ARGS) {
    // No C++ object lives yet: a PostgreSQL error here unwinds nothing of ours.
    const char* name = get_func_name(fcinfo->flinfo->fn_oid);
    return register_kind_function(fcinfo, name ? name : "(unknown)");
}

#define BGUPDATE_REGISTRATION_ALIAS(name)                                                 \
    PG_FUNCTION_INFO_V1(bgupdate_##name);                                                 \
    Datum bgupdate_##name(PG_FUNCTION_ARGS) { return register_kind_function(fcinfo, #name); }

BGUPDATE_REGISTRATION_ALIAS(register_update_handler)
BGUPDATE_REGISTRATION_ALIAS(register_index_update)
BGUPDATE_REGISTRATION_ALIAS(register_validate_constraint)
BGUPDATE_REGISTRATION_ALIAS(register_validate_constraint_and_delete_rows)
BGUPDATE_REGISTRATION_ALIAS(register_batched_update)

BGUPDATE_SQL_FUNCTION(add_constraint_and_enqueue) {
    return api_function(fcinfo, declared,
                        [](Args& a, Api& api) { api.add_constraint_and_enqueue(bgupdate::constraint_delta_args(a)); });
}

BGUPDATE_SQL_FUNCTION(enqueue) {
    return api_function(fcinfo, declared, [](Args& a, Api& api) {
        auto name = a.text("update_name");
        int64_t ordering = a.integer("ordering");
        auto depends_on = a.opt_text("depends_on");
        api.enqueue(name, ordering, depends_on, a.text("progress"));
    });
}

BGUPDATE_SQL_FUNCTION(update_progress) {
    return api_function(fcinfo, declared, [](Args& a, Api& api) {
        auto name = a.text("update_name");
        api.update_progress(name, a.text("progress"));
    });
}

BGUPDATE_SQL_FUNCTION(end_update) {
    return api_function(fcinfo, declared, [](Args& a, Api& api) {
        std::string name = a.text("update_name");
        bgupdate::refuse_end_update_inside(g_open_batch, name);
        api.end_update(name);
    });
}

// A failed batch is recorded by the runner and reported in the result (an
// error would roll the record back with the caller's transaction); anything
// else - a dependency cycle, settings that contradict each other, a cancel -
// is raised, as on SQLite.
BGUPDATE_SQL_FUNCTION(step) {
    return invoke_cpp([&]() -> Datum {
        refuse_inside_application_batch("step()");
        require_read_committed("step()");
        std::string out;
        with_api(SpiEngine::Mode::Session, [&](Api& api) { out = api.step(session_scope()).to_json(); });
        return jsonb_datum(out);
    });
}

// CALL bgupdate.run(max_ms): non-atomic when called outside a transaction
// block, so each batch commits; inside BEGIN … it degrades to subtransactions.
BGUPDATE_SQL_FUNCTION(run) {
    return invoke_cpp([&]() -> Datum {
        refuse_inside_application_batch("run()");
        require_read_committed("run()");
        // run() without an argument runs until the queue is empty; an explicit
        // NULL is a mistake, refused as on SQLite.
        if (PG_NARGS() > 0 && PG_ARGISNULL(0))
            bgupdate::bad_input("run(max_ms): max_ms must not be NULL (call run() without an argument to run until "
                                "the queue is empty)");
        int64_t max_ms = PG_NARGS() == 0 ? INT64_C(1) << 53 : PG_GETARG_INT64(0);
        bool atomic = !(fcinfo->context && IsA(fcinfo->context, CallContext) &&
                        !castNode(CallContext, fcinfo->context)->atomic);
        std::string out;
        with_api(atomic ? SpiEngine::Mode::Session : SpiEngine::Mode::Procedure,
                 [&](Api& api) { out = api.run(max_ms, session_scope()).to_json(); });
        const char* summary = out.c_str();
        pg_guard([&]() noexcept { ereport(DEBUG1, (errmsg("bgupdate.run: %s", summary))); });
        PG_RETURN_VOID();
    });
}

BGUPDATE_SQL_FUNCTION(finish) {
    return api_function(fcinfo, declared, [](Args& a, Api& api) {
        refuse_inside_application_batch("finish()");
        require_read_committed("finish()");
        std::string name = a.text("update_name");
        std::optional<int64_t> timeout_ms;
        if (a.has("timeout_ms")) timeout_ms = a.integer("timeout_ms");
        api.finish(name, timeout_ms, session_scope());
    });
}

BGUPDATE_SQL_FUNCTION(reset) {
    return api_function(fcinfo, declared, [](Args& a, Api& api) {
        refuse_inside_application_batch("reset()");
        api.reset(a.text("update_name"));
    });
}

BGUPDATE_SQL_FUNCTION(cancel) {
    return api_function(fcinfo, declared, [](Args& a, Api& api) { return api.cancel(a.text("update_name")); });
}

BGUPDATE_SQL_FUNCTION(register_application_update) {
    return api_function(fcinfo, declared, [](Args& a, Api& api) { api.register_application_update(a.text("update_name")); });
}

BGUPDATE_SQL_FUNCTION(batch_begin) {
    return invoke_cpp([&]() -> Datum {
        require_transaction_block("batch_begin");
        require_read_committed("batch_begin()");
        if (!g_batch_in_transaction.empty())
            throw bgupdate::Error(bgupdate::ErrorKind::NotNow,
                                  "a batch of background update '" + g_batch_in_transaction +
                                      "' already ended in this transaction: one batch per transaction",
                                  "", "", "COMMIT, then begin the next batch");
        if (!g_xact_callback_registered) {
            pg_guard([&]() noexcept {
                RegisterXactCallback(application_batch_xact_callback, nullptr);
                RegisterSubXactCallback(application_batch_subxact_callback, nullptr);
            });
            g_xact_callback_registered = true;
        }
        std::string out;
        with_api(SpiEngine::Mode::Session, [&](Api& api) {
            api.set_application_scope(application_scope());
            if (g_abandoned) {
                bgupdate::ApplicationBatch gone = std::move(*g_abandoned);
                g_abandoned.reset();
                api.record_abandoned_batch(gone, g_abandoned_reason);
            }
            out = api.batch_begin(g_open_batch);
        });
        if (g_open_batch) pg_guard([&]() noexcept { g_batch_subxact = GetCurrentSubTransactionId(); });
        return jsonb_datum(out);
    });
}

BGUPDATE_SQL_FUNCTION(batch_end) {
    return invoke_cpp([&]() -> Datum {
        Args a(fcinfo, declared);
        int64_t items = a.integer("items");
        std::optional<std::string> progress;
        progress = a.opt_text("progress");
        bool done = a.opt_boolean("done", false);
        std::optional<bgupdate::ApplicationBatch> open = g_open_batch;  // for the record if this fails
        if (open) g_batch_in_transaction = open->claimed.row.update_name;  // its claim ends with this transaction
        std::string out;
        try {
            with_api(SpiEngine::Mode::Session, [&](Api& api) {
                api.set_application_scope(application_scope());
                out = api.batch_end(g_open_batch, items, progress, done).to_json();
            });
            g_ended_batch = std::move(open);
            // Its record lives in this (sub)transaction now.
            pg_guard([&]() noexcept { g_batch_subxact = GetCurrentSubTransactionId(); });
        } catch (const bgupdate::Error& e) {
            // The error aborts the application's transaction: recorded by the next batch_begin().
            if (open && !g_open_batch) {
                g_abandoned = std::move(open);
                g_abandoned_reason = e.what();
            }
            throw;
        }
        return jsonb_datum(out);
    });
}

BGUPDATE_SQL_FUNCTION(batch_fail) {
    return invoke_cpp([&]() -> Datum {
        Args a(fcinfo, declared);
        if (!g_open_batch)
            throw bgupdate::Error(bgupdate::ErrorKind::NotNow, "no batch is open in this session", "", "",
                                  "call batch_begin() first");
        std::string message = a.opt_text("message").value_or("the application reported a failure");
        g_fail_message = message;
        throw bgupdate::Error(bgupdate::ErrorKind::Failure,
                              "batch of background update '" + g_open_batch->claimed.row.update_name +
                                  "' failed: " + message,
                              "", "", "roll back the transaction; the failure is recorded by the next batch_begin()");
    });
}

BGUPDATE_SQL_FUNCTION(has_completed) {
    return api_function(fcinfo, declared, [](Args& a, Api& api) { return api.has_completed(a.text("update_name")); });
}

BGUPDATE_SQL_FUNCTION(has_completed_all) {
    return api_function(fcinfo, declared, [](Args&, Api& api) { return api.has_completed_all(); });
}

BGUPDATE_SQL_FUNCTION(set_enabled) {
    return api_function(fcinfo, declared, [](Args& a, Api& api) { api.set_enabled(a.boolean("enabled")); });
}

BGUPDATE_SQL_FUNCTION(enabled) {
    return api_function(fcinfo, declared, [](Args&, Api& api) { return api.enabled(); });
}

BGUPDATE_SQL_FUNCTION(pause) {
    return api_function(fcinfo, declared, [](Args& a, Api& api) { api.pause(a.text("update_name")); });
}

BGUPDATE_SQL_FUNCTION(resume) {
    return api_function(fcinfo, declared, [](Args& a, Api& api) {
        api.resume(a.text("update_name"));
        bgupdate_pg::wake_worker_at_commit();
    });
}

BGUPDATE_SQL_FUNCTION(retry) {
    return api_function(fcinfo, declared, [](Args& a, Api& api) {
        api.retry(a.text("update_name"));
        bgupdate_pg::wake_worker_at_commit();
    });
}

BGUPDATE_SQL_FUNCTION(check_schema_compat) {
    return api_function(fcinfo, declared, [](Args& a, Api& api) { api.check_schema_compat(a.integer("code_version")); });
}

BGUPDATE_SQL_FUNCTION(apply_schema_delta) {
    return api_function(fcinfo, declared, [](Args& a, Api& api) {
        SchemaFileArgs f = schema_file_args(a, "sql");
        return api.apply_schema_delta(f.version, f.file_name, f.text);
    });
}

BGUPDATE_SQL_FUNCTION(set_schema_version) {
    return api_function(fcinfo, declared, [](Args& a, Api& api) {
        int64_t v = a.integer("version");
        api.set_schema_version(v, a.integer("compat_version"));
    });
}

// Statement trigger on the queue: a transaction that enqueues work wakes the
// worker when it commits.
PG_FUNCTION_INFO_V1(bgupdate_wake_trigger);
Datum bgupdate_wake_trigger(PG_FUNCTION_ARGS) {
    bgupdate_pg::wake_worker_at_commit();
    return PointerGetDatum(nullptr);
}

// The status view's rows (scope: what the caller may manage).
PG_FUNCTION_INFO_V1(bgupdate_status);
Datum bgupdate_status(PG_FUNCTION_ARGS) {
    return invoke_cpp([&]() -> Datum {
        using namespace bgupdate;
        pg_guard([&]() noexcept { InitMaterializedSRF(fcinfo, 0); });
        std::vector<StatusRow> rows;
        with_api(SpiEngine::Mode::Session, [&](Api& api) { rows = api.status(session_scope()); });
        ReturnSetInfo* rsinfo = (ReturnSetInfo*)fcinfo->resultinfo;
        // A 1.0 schema (before ALTER EXTENSION UPDATE) declares fewer columns:
        // fill those it has.
        constexpr int kColumns = sql::kStatusColumnCount;
        const int columns = std::min<int>(rsinfo->setDesc->natts, kColumns);
        for (auto& r : rows) {
            Datum values[kColumns] = {};
            bool nulls[kColumns];
            StatusCell cells[kColumns];
            for (int i = 0; i < kColumns; i++) {
                cells[i] = status_cell(r, i);
                nulls[i] = cells[i].is_null;
                if (cells[i].type == sql::Type::BigInt) values[i] = Int64GetDatum(cells[i].integer);
                if (cells[i].type == sql::Type::Real) values[i] = Float8GetDatum(cells[i].real);
                if (cells[i].type == sql::Type::Boolean) values[i] = BoolGetDatum(cells[i].integer != 0);
            }
            // Texts and timestamps point into the row's own strings (the
            // guarded block below creates no C++ objects).
            pg_guard([&]() noexcept {
                for (int i = 0; i < columns; i++) {
                    if (cells[i].is_null) continue;
                    if (cells[i].type == sql::Type::Text) {
                        values[i] = CStringGetTextDatum(cells[i].text->c_str());
                    } else if (cells[i].type == sql::Type::Timestamp) {
                        values[i] = DirectFunctionCall3(timestamptz_in, CStringGetDatum(cells[i].text->c_str()),
                                                        ObjectIdGetDatum(InvalidOid), Int32GetDatum(-1));
                    }
                }
                tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
            });
        }
        return (Datum)0;
    });
}

}  // extern "C"

extern "C" {
PG_FUNCTION_INFO_V1(bgupdate_wake);
Datum bgupdate_wake(PG_FUNCTION_ARGS) {
    bgupdate_pg::wake_worker_at_commit();
    PG_RETURN_VOID();
}

// ---- migrations as Synapse runs them ---------------------------------------

BGUPDATE_SQL_FUNCTION(apply_schema_snapshot) {
    return api_function(fcinfo, declared, [](Args& a, Api& api) {
        SchemaFileArgs f = schema_file_args(a, "sql");
        api.apply_schema_snapshot(f.version, f.file_name, f.text);
    });
}

BGUPDATE_SQL_FUNCTION(skip_schema_delta) {
    return api_function(fcinfo, declared, [](Args& a, Api& api) {
        SchemaFileArgs f = schema_file_args(a, "reason");
        return api.skip_schema_delta(f.version, f.file_name, f.text);
    });
}

BGUPDATE_SQL_FUNCTION(adopt_queue) {
    return invoke_cpp([&]() -> Datum {
        std::string out;
        with_api(SpiEngine::Mode::Session, [&](Api& api) { out = api.adopt_queue(); });
        return jsonb_datum(out);
    });
}

BGUPDATE_SQL_FUNCTION(estimate) {
    return invoke_cpp([&]() -> Datum {
        refuse_inside_application_batch("estimate()");
        Args args(fcinfo, declared);
        std::string name = args.text("update_name");
        std::string out;
        // The trial batch runs inside a subtransaction that is always rolled
        // back (the session engine's batches do not nest).
        MemoryContext context = CurrentMemoryContext;
        ResourceOwner owner = CurrentResourceOwner;
        pg_guard([&]() noexcept {
            BeginInternalSubTransaction(nullptr);
            MemoryContextSwitchTo(context);
        });
        auto undo = [&] {
            pg_guard([&]() noexcept {
                RollbackAndReleaseCurrentSubTransaction();
                MemoryContextSwitchTo(context);
                CurrentResourceOwner = owner;
            });
        };
        bool reportable = true;
        try {
            with_api(SpiEngine::Mode::Session, [&](Api& api) { out = api.estimate(name, session_scope(), true); },
                     &reportable);
        } catch (...) {
            if (reportable) undo();  // otherwise the error aborts the caller's transaction anyway
            throw;
        }
        undo();
        return jsonb_datum(out);
    });
}

}
