// The SQL API of schema bgupdate: thin wrappers that convert arguments,
// call bgupdate::Api on a session SpiEngine and convert the result. Every
// entry runs inside invoke_cpp (C++ exceptions -> ereport) and every
// PostgreSQL call inside pg_guard (ereport -> C++ exception).
#include <optional>
#include <string>
#include <vector>

#include "api.h"
#include "error_boundary.h"
#include "shmem.h"
#include "spi_engine.h"

using bgupdate::Api;
using bgupdate_pg::invoke_cpp;
using bgupdate_pg::pg_guard;
using bgupdate_pg::SpiEngine;

namespace {

[[noreturn]] void null_argument(const char* name) {
    bgupdate::bad_input(std::string(name) + " must not be NULL");
}

std::optional<std::string> opt_text(FunctionCallInfo fcinfo, int i) {
    if (PG_ARGISNULL(i)) return std::nullopt;
    char* s = nullptr;
    pg_guard([&] { s = text_to_cstring(PG_GETARG_TEXT_PP(i)); });
    return std::string(s);
}

std::string req_text(FunctionCallInfo fcinfo, int i, const char* name) {
    auto v = opt_text(fcinfo, i);
    if (!v) null_argument(name);
    return *v;
}

std::string req_jsonb(FunctionCallInfo fcinfo, int i, const char* name) {
    if (PG_ARGISNULL(i)) null_argument(name);
    char* s = nullptr;
    pg_guard([&] {
        Jsonb* jb = PG_GETARG_JSONB_P(i);
        s = JsonbToCString(nullptr, &jb->root, VARSIZE(jb));
    });
    return std::string(s);
}

int64_t req_int(FunctionCallInfo fcinfo, int i, const char* name) {
    if (PG_ARGISNULL(i)) null_argument(name);
    return PG_GETARG_INT64(i);
}

bool req_bool(FunctionCallInfo fcinfo, int i, const char* name) {
    if (PG_ARGISNULL(i)) null_argument(name);
    return PG_GETARG_BOOL(i);
}

std::vector<std::string> req_text_array(FunctionCallInfo fcinfo, int i, const char* name) {
    if (PG_ARGISNULL(i)) null_argument(name);
    Datum* elems = nullptr;
    bool* nulls = nullptr;
    int n = 0;
    char** texts = nullptr;
    pg_guard([&] {
        ArrayType* arr = PG_GETARG_ARRAYTYPE_P(i);
        if (ARR_NDIM(arr) > 1) ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE), errmsg("array must be one-dimensional")));
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

bool optional_bool(FunctionCallInfo fcinfo, int i, bool dflt) { return PG_ARGISNULL(i) ? dflt : PG_GETARG_BOOL(i); }

Datum jsonb_datum(const std::string& s) {
    Datum d = 0;
    const char* c = s.c_str();
    pg_guard([&] { d = DirectFunctionCall1(jsonb_in, CStringGetDatum(c)); });
    return d;
}

bgupdate::RunScope session_scope() {
    bgupdate::RunScope scope;
    scope.only_manageable = true;  // a role runs and sees only updates it could manage
    return scope;
}

// Set when the last with_api() failed with the transaction left unusable
// (a PostgreSQL error outside any batch): the caller must raise it.
bool last_error_unrecoverable = false;

// SPI connection and a session engine for the duration of `body`.
template <typename F>
void with_api(SpiEngine::Mode mode, F&& body) {
    pg_guard([&] {
        if (SPI_connect_ext(mode == SpiEngine::Mode::Procedure ? SPI_OPT_NONATOMIC : 0) != SPI_OK_CONNECT)
            elog(ERROR, "SPI_connect failed");
    });
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
        // Leave SPI tidy for callers that report the error instead of raising
        // it; a PostgreSQL error outside a batch must abort the transaction.
        last_error_unrecoverable = !recoverable;
        if (!recoverable) throw;
        pg_guard([&] { SPI_finish(); });
        throw;
    }
    pg_guard([&] { SPI_finish(); });
}

template <typename F>
void with_api(F&& body) { with_api(SpiEngine::Mode::Session, std::forward<F>(body)); }

}  // namespace

extern "C" {

PG_MODULE_MAGIC;

PG_FUNCTION_INFO_V1(bgupdate_register_update_handler);
Datum bgupdate_register_update_handler(PG_FUNCTION_ARGS) {
    return invoke_cpp([&]() -> Datum {
        auto name = req_text(fcinfo, 0, "update_name");
        auto handler = req_text(fcinfo, 1, "handler");
        with_api([&](Api& api) { api.register_update_handler(name, handler); });
        PG_RETURN_VOID();
    });
}

PG_FUNCTION_INFO_V1(bgupdate_register_index_update);
Datum bgupdate_register_index_update(PG_FUNCTION_ARGS) {
    return invoke_cpp([&]() -> Datum {
        bgupdate::IndexUpdateArgs a;
        a.update_name = req_text(fcinfo, 0, "update_name");
        a.index_name = req_text(fcinfo, 1, "index_name");
        a.table = req_text(fcinfo, 2, "table");
        a.columns = req_text_array(fcinfo, 3, "columns");
        a.where_clause = opt_text(fcinfo, 4);
        a.is_unique = optional_bool(fcinfo, 5, false);
        a.psql_only = optional_bool(fcinfo, 6, false);
        a.replaces_index = opt_text(fcinfo, 7);
        with_api([&](Api& api) { api.register_index_update(a); });
        PG_RETURN_VOID();
    });
}

PG_FUNCTION_INFO_V1(bgupdate_register_validate_constraint);
Datum bgupdate_register_validate_constraint(PG_FUNCTION_ARGS) {
    return invoke_cpp([&]() -> Datum {
        auto name = req_text(fcinfo, 0, "update_name");
        auto constraint = req_text(fcinfo, 1, "constraint_name");
        auto table = req_text(fcinfo, 2, "table");
        with_api([&](Api& api) { api.register_validate_constraint(name, constraint, table); });
        PG_RETURN_VOID();
    });
}

PG_FUNCTION_INFO_V1(bgupdate_register_validate_constraint_and_delete_rows);
Datum bgupdate_register_validate_constraint_and_delete_rows(PG_FUNCTION_ARGS) {
    return invoke_cpp([&]() -> Datum {
        auto name = req_text(fcinfo, 0, "update_name");
        auto table = req_text(fcinfo, 1, "table");
        auto constraint_name = req_text(fcinfo, 2, "constraint_name");
        auto constraint = req_jsonb(fcinfo, 3, "constraint");
        auto unique_columns = req_text_array(fcinfo, 4, "unique_columns");
        with_api([&](Api& api) {
            api.register_validate_constraint_and_delete_rows(name, table, constraint_name, constraint, unique_columns);
        });
        PG_RETURN_VOID();
    });
}

PG_FUNCTION_INFO_V1(bgupdate_add_constraint_and_enqueue);
Datum bgupdate_add_constraint_and_enqueue(PG_FUNCTION_ARGS) {
    return invoke_cpp([&]() -> Datum {
        bgupdate::ConstraintDeltaArgs a;
        a.ordering = req_int(fcinfo, 0, "ordering");
        a.update_name = req_text(fcinfo, 1, "update_name");
        a.table = req_text(fcinfo, 2, "table");
        a.constraint_name = req_text(fcinfo, 3, "constraint_name");
        a.constraint_json = req_jsonb(fcinfo, 4, "constraint");
        a.sqlite_table_name = opt_text(fcinfo, 5).value_or("");
        a.sqlite_table_schema = opt_text(fcinfo, 6).value_or("");
        with_api([&](Api& api) { api.add_constraint_and_enqueue(a); });
        PG_RETURN_VOID();
    });
}

PG_FUNCTION_INFO_V1(bgupdate_register_batched_update);
Datum bgupdate_register_batched_update(PG_FUNCTION_ARGS) {
    return invoke_cpp([&]() -> Datum {
        bgupdate::BatchedUpdateArgs a;
        a.update_name = req_text(fcinfo, 0, "update_name");
        a.table = req_text(fcinfo, 1, "table");
        a.key_columns = req_text_array(fcinfo, 2, "key_columns");
        a.set_clause = req_text(fcinfo, 3, "set_clause");
        a.where_clause = opt_text(fcinfo, 4);
        with_api([&](Api& api) { api.register_batched_update(a); });
        PG_RETURN_VOID();
    });
}

PG_FUNCTION_INFO_V1(bgupdate_enqueue);
Datum bgupdate_enqueue(PG_FUNCTION_ARGS) {
    return invoke_cpp([&]() -> Datum {
        auto name = req_text(fcinfo, 0, "update_name");
        int64_t ordering = req_int(fcinfo, 1, "ordering");
        auto depends_on = opt_text(fcinfo, 2);
        auto progress = req_jsonb(fcinfo, 3, "progress");
        with_api([&](Api& api) { api.enqueue(name, ordering, depends_on, progress); });
        PG_RETURN_VOID();
    });
}

PG_FUNCTION_INFO_V1(bgupdate_update_progress);
Datum bgupdate_update_progress(PG_FUNCTION_ARGS) {
    return invoke_cpp([&]() -> Datum {
        auto name = req_text(fcinfo, 0, "update_name");
        auto progress = req_jsonb(fcinfo, 1, "progress");
        with_api([&](Api& api) { api.update_progress(name, progress); });
        PG_RETURN_VOID();
    });
}

PG_FUNCTION_INFO_V1(bgupdate_end_update);
Datum bgupdate_end_update(PG_FUNCTION_ARGS) {
    return invoke_cpp([&]() -> Datum {
        auto name = req_text(fcinfo, 0, "update_name");
        with_api([&](Api& api) { api.end_update(name); });
        PG_RETURN_VOID();
    });
}

PG_FUNCTION_INFO_V1(bgupdate_step);
Datum bgupdate_step(PG_FUNCTION_ARGS) {
    return invoke_cpp([&]() -> Datum {
        std::string out;
        try {
            with_api([&](Api& api) { out = api.step(session_scope()); });
        } catch (const bgupdate::Error& e) {
            if (last_error_unrecoverable) throw;
            // Recorded by the runner (when a batch failed); raising would roll
            // that record back with the caller's transaction.
            // (jansson's header cannot be included next to PostgreSQL's.)
            std::string msg;
            for (unsigned char c : std::string(e.what())) {
                if (c == '"' || c == '\\') msg += '\\', msg += static_cast<char>(c);
                else if (c < 0x20) { char b[8]; snprintf(b, sizeof b, "\\u%04x", c); msg += b; }
                else msg += static_cast<char>(c);
            }
            out = "{\"update_name\": null, \"error\": \"" + msg + "\", \"done\": false, \"all_done\": false}";
        }
        return jsonb_datum(out);
    });
}

// CALL bgupdate.run(max_ms): non-atomic when called outside a transaction
// block, so each batch commits; inside BEGIN … it degrades to subtransactions.
PG_FUNCTION_INFO_V1(bgupdate_run);
Datum bgupdate_run(PG_FUNCTION_ARGS) {
    return invoke_cpp([&]() -> Datum {
        int64_t max_ms = PG_ARGISNULL(0) ? INT64_C(1) << 53 : PG_GETARG_INT64(0);
        bool atomic = !(fcinfo->context && IsA(fcinfo->context, CallContext) &&
                        !castNode(CallContext, fcinfo->context)->atomic);
        std::string out;
        with_api(atomic ? SpiEngine::Mode::Session : SpiEngine::Mode::Procedure,
                 [&](Api& api) { out = api.run(max_ms, session_scope()); });
        const char* summary = out.c_str();
        pg_guard([&] { ereport(DEBUG1, (errmsg("bgupdate.run: %s", summary))); });
        PG_RETURN_VOID();
    });
}

PG_FUNCTION_INFO_V1(bgupdate_finish);
Datum bgupdate_finish(PG_FUNCTION_ARGS) {
    return invoke_cpp([&]() -> Datum {
        auto name = req_text(fcinfo, 0, "update_name");
        with_api([&](Api& api) { api.finish(name); });
        PG_RETURN_VOID();
    });
}

PG_FUNCTION_INFO_V1(bgupdate_has_completed);
Datum bgupdate_has_completed(PG_FUNCTION_ARGS) {
    return invoke_cpp([&]() -> Datum {
        auto name = req_text(fcinfo, 0, "update_name");
        bool done = false;
        with_api([&](Api& api) { done = api.has_completed(name); });
        PG_RETURN_BOOL(done);
    });
}

PG_FUNCTION_INFO_V1(bgupdate_has_completed_all);
Datum bgupdate_has_completed_all(PG_FUNCTION_ARGS) {
    return invoke_cpp([&]() -> Datum {
        bool done = false;
        with_api([&](Api& api) { done = api.has_completed_all(); });
        PG_RETURN_BOOL(done);
    });
}

PG_FUNCTION_INFO_V1(bgupdate_set_enabled);
Datum bgupdate_set_enabled(PG_FUNCTION_ARGS) {
    return invoke_cpp([&]() -> Datum {
        bool on = req_bool(fcinfo, 0, "enabled");
        with_api([&](Api& api) { api.set_enabled(on); });
        PG_RETURN_VOID();
    });
}

PG_FUNCTION_INFO_V1(bgupdate_enabled);
Datum bgupdate_enabled(PG_FUNCTION_ARGS) {
    return invoke_cpp([&]() -> Datum {
        bool on = false;
        with_api([&](Api& api) { on = api.enabled(); });
        PG_RETURN_BOOL(on);
    });
}

PG_FUNCTION_INFO_V1(bgupdate_pause);
Datum bgupdate_pause(PG_FUNCTION_ARGS) {
    return invoke_cpp([&]() -> Datum {
        auto name = req_text(fcinfo, 0, "update_name");
        with_api([&](Api& api) { api.pause(name); });
        PG_RETURN_VOID();
    });
}

PG_FUNCTION_INFO_V1(bgupdate_resume);
Datum bgupdate_resume(PG_FUNCTION_ARGS) {
    return invoke_cpp([&]() -> Datum {
        auto name = req_text(fcinfo, 0, "update_name");
        with_api([&](Api& api) { api.resume(name); });
        bgupdate_pg::wake_worker_at_commit();
        PG_RETURN_VOID();
    });
}

PG_FUNCTION_INFO_V1(bgupdate_retry);
Datum bgupdate_retry(PG_FUNCTION_ARGS) {
    return invoke_cpp([&]() -> Datum {
        auto name = req_text(fcinfo, 0, "update_name");
        with_api([&](Api& api) { api.retry(name); });
        bgupdate_pg::wake_worker_at_commit();
        PG_RETURN_VOID();
    });
}

PG_FUNCTION_INFO_V1(bgupdate_check_schema_compat);
Datum bgupdate_check_schema_compat(PG_FUNCTION_ARGS) {
    return invoke_cpp([&]() -> Datum {
        int64_t v = req_int(fcinfo, 0, "code_version");
        with_api([&](Api& api) { api.check_schema_compat(v); });
        PG_RETURN_VOID();
    });
}

PG_FUNCTION_INFO_V1(bgupdate_apply_schema_delta);
Datum bgupdate_apply_schema_delta(PG_FUNCTION_ARGS) {
    return invoke_cpp([&]() -> Datum {
        int64_t v = req_int(fcinfo, 0, "version");
        auto file = req_text(fcinfo, 1, "file_name");
        auto sql = req_text(fcinfo, 2, "sql");
        bool applied = false;
        with_api([&](Api& api) { applied = api.apply_schema_delta(v, file, sql); });
        PG_RETURN_BOOL(applied);
    });
}

PG_FUNCTION_INFO_V1(bgupdate_set_schema_version);
Datum bgupdate_set_schema_version(PG_FUNCTION_ARGS) {
    return invoke_cpp([&]() -> Datum {
        int64_t v = req_int(fcinfo, 0, "version");
        int64_t c = req_int(fcinfo, 1, "compat_version");
        with_api([&](Api& api) { api.set_schema_version(v, c); });
        PG_RETURN_VOID();
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
        pg_guard([&] { InitMaterializedSRF(fcinfo, 0); });
        std::vector<bgupdate::StatusRow> rows;
        with_api([&](Api& api) { rows = api.status(session_scope()); });
        ReturnSetInfo* rsinfo = (ReturnSetInfo*)fcinfo->resultinfo;
        constexpr int N = 17;
        for (auto& r : rows) {
            Datum values[N];
            bool nulls[N];
            const char* texts[] = {r.update_name.c_str(), r.state.c_str(),
                                   r.depends_on ? r.depends_on->c_str() : nullptr,
                                   r.last_error ? r.last_error->c_str() : nullptr,
                                   r.started_at ? r.started_at->c_str() : nullptr,
                                   r.updated_at ? r.updated_at->c_str() : nullptr,
                                   r.completed_at ? r.completed_at->c_str() : nullptr};
            auto set_int = [&](int i, std::optional<int64_t> v) { nulls[i] = !v; values[i] = v ? Int64GetDatum(*v) : 0; };
            auto set_real = [&](int i, std::optional<double> v) { nulls[i] = !v; values[i] = v ? Float8GetDatum(*v) : 0; };
            set_int(2, r.ordering);
            set_int(4, r.batches);
            set_int(5, r.items_done);
            set_int(6, r.total_estimate);
            set_real(7, r.percent);
            set_real(8, r.avg_items_per_ms);
            set_real(9, r.total_items_per_ms);
            set_int(10, r.batch_size);
            set_real(11, r.eta_seconds);
            set_int(12, r.attempts);
            pg_guard([&] {
                values[0] = CStringGetTextDatum(texts[0]);
                nulls[0] = false;
                values[1] = CStringGetTextDatum(texts[1]);
                nulls[1] = false;
                nulls[3] = texts[2] == nullptr;
                values[3] = texts[2] ? CStringGetTextDatum(texts[2]) : 0;
                nulls[13] = texts[3] == nullptr;
                values[13] = texts[3] ? CStringGetTextDatum(texts[3]) : 0;
                for (int k = 0; k < 3; k++) {
                    const char* ts = texts[4 + k];
                    nulls[14 + k] = ts == nullptr;
                    values[14 + k] = ts ? DirectFunctionCall3(timestamptz_in, CStringGetDatum(ts),
                                                              ObjectIdGetDatum(InvalidOid), Int32GetDatum(-1))
                                        : 0;
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

// ---- migrations as Synapse runs them (issue 7) ------------------------------

PG_FUNCTION_INFO_V1(bgupdate_apply_schema_snapshot);
Datum bgupdate_apply_schema_snapshot(PG_FUNCTION_ARGS) {
    return invoke_cpp([&]() -> Datum {
        int64_t v = req_int(fcinfo, 0, "version");
        auto file = req_text(fcinfo, 1, "file_name");
        auto sql = req_text(fcinfo, 2, "sql");
        with_api([&](Api& api) { api.apply_schema_snapshot(v, file, sql); });
        PG_RETURN_VOID();
    });
}

PG_FUNCTION_INFO_V1(bgupdate_skip_schema_delta);
Datum bgupdate_skip_schema_delta(PG_FUNCTION_ARGS) {
    return invoke_cpp([&]() -> Datum {
        int64_t v = req_int(fcinfo, 0, "version");
        auto file = req_text(fcinfo, 1, "file_name");
        auto reason = req_text(fcinfo, 2, "reason");
        bool recorded = false;
        with_api([&](Api& api) { recorded = api.skip_schema_delta(v, file, reason); });
        PG_RETURN_BOOL(recorded);
    });
}

PG_FUNCTION_INFO_V1(bgupdate_adopt_queue);
Datum bgupdate_adopt_queue(PG_FUNCTION_ARGS) {
    return invoke_cpp([&]() -> Datum {
        std::string out;
        with_api([&](Api& api) { out = api.adopt_queue(); });
        return jsonb_datum(out);
    });
}

PG_FUNCTION_INFO_V1(bgupdate_estimate);
Datum bgupdate_estimate(PG_FUNCTION_ARGS) {
    return invoke_cpp([&]() -> Datum {
        auto name = req_text(fcinfo, 0, "update_name");
        std::string out;
        // The trial batch runs inside a subtransaction that is always rolled
        // back (the session engine's batches do not nest).
        MemoryContext context = CurrentMemoryContext;
        ResourceOwner owner = CurrentResourceOwner;
        pg_guard([&] {
            BeginInternalSubTransaction(nullptr);
            MemoryContextSwitchTo(context);
        });
        auto undo = [&] {
            pg_guard([&] {
                RollbackAndReleaseCurrentSubTransaction();
                MemoryContextSwitchTo(context);
                CurrentResourceOwner = owner;
            });
        };
        try {
            with_api([&](Api& api) { out = api.estimate(name, true); });
        } catch (...) {
            if (!last_error_unrecoverable) undo();
            throw;
        }
        undo();
        return jsonb_datum(out);
    });
}

}
