// Thin adapters: SQLite arguments -> one Api call -> SQLite result. Every C++
// exception is caught here and reported with sqlite3_result_error, prefixed
// with the function's name.
#include "sql_functions.h"

#include <new>
#include <string>

#include "abandoned_batch.h"
#include "args.h"
#include "errors.h"
#include "handler_kind.h"
#include "registration.h"
#include "runner.h"
#include "settings.h"
#include "store.h"

using bgupdate::Error;
using bgupdate::ErrorKind;

namespace bgupdate_sqlite {

namespace {

struct Call {
    Connection& conn;
    const Args& args;
    sqlite3_context* ctx;
    bgupdate::Api& api() { return conn.api; }

    void null() { sqlite3_result_null(ctx); }
    void integer(int64_t v) { sqlite3_result_int64(ctx, v); }
    void boolean(bool v) { sqlite3_result_int(ctx, v ? 1 : 0); }
    void text(const std::string& s) {
        sqlite3_result_text(ctx, s.data(), static_cast<int>(s.size()), SQLITE_TRANSIENT);
    }
};

using Impl = void (*)(Call&);

struct FnDef {
    const char* name;
    int min_args;
    int max_args;
    Impl impl;
};

// ---- registration -------------------------------------------------------

// A registration made on this connection is the application's own: with
// PRAGMA trusted_schema OFF only such registrations run (connection_trust.h).
void remember_registration(Call& c, const std::string& update_name) {
    if (auto reg = bgupdate::Store(c.conn.engine).registration(update_name))
        c.conn.trust->remember_registration(update_name, bgupdate::handler_kind_name(reg->kind), reg->spec_json);
}

void register_update_handler(Call& c) {
    std::string name = c.args.text(0, "update_name"), handler = c.args.text(1, "handler");
    c.api().register_update_handler(name, handler);
    // Naming its own function here is the application allowing batches to call it.
    c.conn.trust->allow_function(handler);
    remember_registration(c, name);
    c.null();
}

// The application lets statements of batches call one of its functions
// (fragments read from the database file may call only built-in ones).
void allow_function(Call& c) {
    std::string name = c.args.text(0, "function_name");
    bgupdate::Registrar::require_name(name, "function_name");
    c.conn.trust->allow_function(name);
    c.null();
}

void register_index_update(Call& c) {
    bgupdate::IndexUpdateArgs a;
    a.update_name = c.args.text(0, "update_name");
    a.index_name = c.args.text(1, "index_name");
    a.table = c.args.text(2, "table");
    a.columns = c.args.string_array(3, "columns");
    a.where_clause = c.args.opt_text(4, "where_clause");
    a.is_unique = c.args.opt_boolean(5, "is_unique", false);
    a.psql_only = c.args.opt_boolean(6, "psql_only", false);
    a.replaces_index = c.args.opt_text(7, "replaces_index");
    c.api().register_index_update(a);
    remember_registration(c, a.update_name);
    c.null();
}

void register_validate_constraint(Call& c) {
    std::string name = c.args.text(0, "update_name");
    c.api().register_validate_constraint(name, c.args.text(1, "constraint_name"), c.args.text(2, "table"));
    remember_registration(c, name);
    c.null();
}

// The key range options (fixed_range, min_key, max_key) from argument i on;
// min_key and max_key are JSON (an array, or one value for a one-column key).
bgupdate::KeyRangeArgs key_range(Call& c, int i) {
    bgupdate::KeyRangeArgs r;
    r.fixed = c.args.has(i) && c.args.boolean(i, "fixed_range");
    r.min_key = c.args.opt_text(i + 1, "min_key");
    r.max_key = c.args.opt_text(i + 2, "max_key");
    return r;
}

void register_validate_constraint_and_delete_rows(Call& c) {
    std::string name = c.args.text(0, "update_name");
    c.api().register_validate_constraint_and_delete_rows(name, c.args.text(1, "table"), c.args.text(2, "constraint_name"),
                                                         c.args.text(3, "constraint"),
                                                         c.args.string_array(4, "unique_columns"), key_range(c, 5));
    remember_registration(c, name);
    c.null();
}

void add_constraint_and_enqueue(Call& c) {
    bgupdate::ConstraintDeltaArgs a;
    a.ordering = c.args.integer(0, "ordering");
    a.update_name = c.args.text(1, "update_name");
    a.table = c.args.text(2, "table");
    a.constraint_name = c.args.text(3, "constraint_name");
    a.constraint_json = c.args.text(4, "constraint");
    a.sqlite_table_name = c.args.text(5, "sqlite_table_name");
    a.sqlite_table_schema = c.args.text(6, "sqlite_table_schema");
    c.integer(c.api().add_constraint_and_enqueue(a));  // rows removed by the rebuild
}

void register_batched_update(Call& c) {
    bgupdate::BatchedUpdateArgs a;
    a.update_name = c.args.text(0, "update_name");
    a.table = c.args.text(1, "table");
    a.key_columns = c.args.string_array(2, "key_columns");
    a.set_clause = c.args.text(3, "set_clause");
    a.where_clause = c.args.opt_text(4, "where_clause");
    a.range = key_range(c, 5);
    c.api().register_batched_update(a);
    remember_registration(c, a.update_name);
    c.null();
}

// ---- queue --------------------------------------------------------------

void enqueue(Call& c) {
    std::string name = c.args.text(0, "update_name");
    int64_t ordering = c.args.opt_integer(1, "ordering", 0);
    std::optional<std::string> depends_on = c.args.opt_text(2, "depends_on");
    std::string progress = c.args.has(3) ? c.args.text(3, "progress_json") : "{}";
    c.api().enqueue(name, ordering, depends_on, progress);
    c.null();
}

void update_progress(Call& c) {
    c.api().update_progress(c.args.text(0, "update_name"), c.args.text(1, "progress_json"));
    c.null();
}

void end_update(Call& c) {
    std::string name = c.args.text(0, "update_name");
    bgupdate::refuse_end_update_inside(c.conn.open_batch, name);
    c.api().end_update(name);
    c.null();
}

// ---- running ------------------------------------------------------------

void step(Call& c) { c.text(c.api().step().to_json()); }

// The application-run protocol: no callback into the application, so any
// driver can use it (better-sqlite3 refuses re-entrant queries).
void register_application_update(Call& c) {
    std::string name = c.args.text(0, "update_name");
    c.api().register_application_update(name);
    remember_registration(c, name);
    c.null();
}

// A batch whose transaction the application ended itself (abandoned_batch.h)
// is recorded as a failure by the next batch call; the commit hook watches
// for a foreign COMMIT only while a batch is open.
struct WatchOpenBatch {
    Connection& conn;
    ~WatchOpenBatch() { watch_open_batch(conn); }
};

void batch_begin(Call& c) {
    WatchOpenBatch watch{c.conn};
    if (std::string why = abandoned_batch_reason(c.conn); !why.empty()) settle_abandoned_batch(c.conn, why);
    c.text(c.api().batch_begin(c.conn.open_batch));
}

void batch_end(Call& c) {
    WatchOpenBatch watch{c.conn};
    int64_t items = c.args.non_negative(0, "items");
    auto progress = c.args.opt_text(1, "progress_json");
    bool done = c.args.opt_boolean(2, "done", false);
    if (std::string why = abandoned_batch_reason(c.conn); !why.empty()) return c.text(settle_abandoned_batch(c.conn, why).to_json());
    c.text(c.api().batch_end(c.conn.open_batch, items, progress, done).to_json());
}

void batch_fail(Call& c) {
    WatchOpenBatch watch{c.conn};
    if (std::string why = abandoned_batch_reason(c.conn); !why.empty()) return c.text(settle_abandoned_batch(c.conn, why).to_json());
    c.text(c.api().batch_fail(c.conn.open_batch, c.args.opt_text(0, "message").value_or("")).to_json());
}

// run() without an argument runs until the queue is empty (as on PostgreSQL).
void run(Call& c) {
    c.text(c.api().run(c.args.count() == 0 ? (int64_t{1} << 53) : c.args.non_negative(0, "max_ms")).to_json());
}

void finish(Call& c) {
    std::string name = c.args.text(0, "update_name");
    std::optional<int64_t> timeout_ms;
    if (c.args.has(1)) timeout_ms = c.args.non_negative(1, "timeout_ms");
    c.api().finish(name, timeout_ms);
    c.null();
}

void reset(Call& c) {
    c.api().reset(c.args.text(0, "update_name"));
    c.null();
}

void cancel(Call& c) { c.boolean(c.api().cancel(c.args.text(0, "update_name"))); }

void has_completed(Call& c) { c.boolean(c.api().has_completed(c.args.text(0, "update_name"))); }

void has_completed_all(Call& c) { c.boolean(c.api().has_completed_all()); }

// ---- control ------------------------------------------------------------

void set_enabled(Call& c) {
    c.api().set_enabled(c.args.boolean(0, "enabled"));
    c.null();
}

void enabled(Call& c) { c.boolean(c.api().enabled()); }

void pause(Call& c) {
    c.api().pause(c.args.text(0, "update_name"));
    c.null();
}

void resume(Call& c) {
    c.api().resume(c.args.text(0, "update_name"));
    c.null();
}

void retry(Call& c) {
    c.api().retry(c.args.text(0, "update_name"));
    c.null();
}

void config(Call& c) {
    std::string key = c.args.text(0, "key");
    if (c.args.count() >= 2) {
        std::string v = c.api().config(key, c.args.text(1, "value"));
        // A hook set here is the application's own function: batches may call it.
        const bgupdate::SettingInfo* info = bgupdate::find_setting(key);
        if (info && info->type == bgupdate::SettingInfo::Type::Function && !v.empty()) c.conn.trust->allow_function(v);
        c.text(v);
    } else {
        c.text(c.api().config(key));
    }
}

// ---- schema versions and deltas -------------------------------------------

void check_schema_compat(Call& c) {
    c.api().check_schema_compat(c.args.integer(0, "code_version"));
    c.null();
}

void apply_schema_delta(Call& c) {
    c.boolean(c.api().apply_schema_delta(c.args.non_negative(0, "version"), c.args.text(1, "file_name"),
                                         c.args.text(2, "sql")));
}

void set_schema_version(Call& c) {
    c.api().set_schema_version(c.args.non_negative(0, "version"), c.args.non_negative(1, "compat_version"));
    c.null();
}

void apply_schema_snapshot(Call& c) {
    c.api().apply_schema_snapshot(c.args.non_negative(0, "version"), c.args.text(1, "file_name"),
                                  c.args.text(2, "sql"));
    c.null();
}

void skip_schema_delta(Call& c) {
    c.boolean(c.api().skip_schema_delta(c.args.non_negative(0, "version"), c.args.text(1, "file_name"),
                                        c.args.text(2, "reason")));
}

void adopt_queue(Call& c) { c.text(c.api().adopt_queue()); }

void estimate(Call& c) { c.text(c.api().estimate(c.args.text(0, "update_name"))); }

// ---- background thread ----------------------------------------------------

void start(Call& c) {
    const char* f = sqlite3_db_filename(c.conn.db, "main");
    if (!f || !*f) {
        bgupdate::bad_input(
            "the background thread needs a database file, and this connection's main database is in-memory or "
            "temporary; call bgupdate_step() from the application instead");
    }
    if (sqlite3_threadsafe() == 0) {
        bgupdate::bad_input("this SQLite library was built without thread support (SQLITE_THREADSAFE=0), so the "
                            "background thread cannot run; call bgupdate_step() from the application instead");
    }
    bgupdate::Rows trusted = c.conn.engine.query("PRAGMA trusted_schema");
    bool trusted_schema = trusted.empty() || trusted[0].empty() || trusted[0][0].as_int() != 0;
    c.boolean(c.conn.thread.start(f, c.conn.trust, trusted_schema));
}

void stop(Call& c) { c.boolean(c.conn.thread.stop()); }

const FnDef kFunctions[] = {
    {"bgupdate_register_update_handler", 2, 2, register_update_handler},
    {"bgupdate_allow_function", 1, 1, allow_function},
    {"bgupdate_register_index_update", 4, 8, register_index_update},
    {"bgupdate_register_validate_constraint", 3, 3, register_validate_constraint},
    {"bgupdate_register_validate_constraint_and_delete_rows", 5, 8, register_validate_constraint_and_delete_rows},
    {"bgupdate_add_constraint_and_enqueue", 7, 7, add_constraint_and_enqueue},
    {"bgupdate_register_batched_update", 4, 8, register_batched_update},
    {"bgupdate_enqueue", 1, 4, enqueue},
    {"bgupdate_update_progress", 2, 2, update_progress},
    {"bgupdate_end_update", 1, 1, end_update},
    {"bgupdate_step", 0, 0, step},
    {"bgupdate_register_application_update", 1, 1, register_application_update},
    {"bgupdate_batch_begin", 0, 0, batch_begin},
    {"bgupdate_batch_end", 1, 3, batch_end},
    {"bgupdate_batch_fail", 0, 1, batch_fail},
    {"bgupdate_run", 0, 1, run},
    {"bgupdate_finish", 1, 2, finish},
    {"bgupdate_reset", 1, 1, reset},
    {"bgupdate_cancel", 1, 1, cancel},
    {"bgupdate_has_completed", 1, 1, has_completed},
    {"bgupdate_has_completed_all", 0, 0, has_completed_all},
    {"bgupdate_set_enabled", 1, 1, set_enabled},
    {"bgupdate_enabled", 0, 0, enabled},
    {"bgupdate_pause", 1, 1, pause},
    {"bgupdate_resume", 1, 1, resume},
    {"bgupdate_retry", 1, 1, retry},
    {"bgupdate_config", 1, 2, config},
    {"bgupdate_check_schema_compat", 1, 1, check_schema_compat},
    {"bgupdate_apply_schema_delta", 3, 3, apply_schema_delta},
    {"bgupdate_set_schema_version", 2, 2, set_schema_version},
    {"bgupdate_apply_schema_snapshot", 3, 3, apply_schema_snapshot},
    {"bgupdate_skip_schema_delta", 3, 3, skip_schema_delta},
    {"bgupdate_adopt_queue", 0, 0, adopt_queue},
    {"bgupdate_estimate", 1, 1, estimate},
    {"bgupdate_start", 0, 0, start},
    {"bgupdate_stop", 0, 0, stop},
};

// What SQLite holds as each function's user data.
struct Binding {
    Connection* conn;
    const FnDef* def;
};

void destroy_binding(void* p) {
    auto* b = static_cast<Binding*>(p);
    Connection::release(b->conn);
    delete b;
}

void report(sqlite3_context* ctx, const char* fn, const std::string& message, int code) {
    std::string full = std::string(fn) + ": " + message;
    sqlite3_result_error(ctx, full.c_str(), static_cast<int>(full.size()));
    if (code != SQLITE_ERROR) sqlite3_result_error_code(ctx, code);
}

void dispatch(sqlite3_context* ctx, int argc, sqlite3_value** argv) {
    auto* b = static_cast<Binding*>(sqlite3_user_data(ctx));
    const FnDef& def = *b->def;
    try {
        if (argc < def.min_args || argc > def.max_args) {
            std::string want = def.min_args == def.max_args
                                   ? std::to_string(def.min_args)
                                   : std::to_string(def.min_args) + " to " + std::to_string(def.max_args);
            bgupdate::bad_input("takes " + want + " argument(s), got " + std::to_string(argc));
        }
        Args args(argc, argv);
        Call call{*b->conn, args, ctx};
        // Own tables are created on first use (cheap when they exist). Not for
        // start/stop, which touch nothing on this connection.
        if (def.impl != start && def.impl != stop) b->conn->api.ensure_schema();
        b->conn->engine.take_silent_application_failure();
        def.impl(call);
        // A driver that passed no message for its function's error (better-sqlite3)
        // must see this statement fail, or it loses track of its own exception.
        if (b->conn->engine.take_silent_application_failure())
            return report(ctx, def.name, "an application function failed (its driver passed no message; the "
                                         "failure is recorded in the update's last_error)", SQLITE_ERROR);
    } catch (const Error& e) {
        int code = SQLITE_ERROR;
        if (e.kind() == ErrorKind::LockTimeout) code = SQLITE_BUSY;
        if (e.kind() == ErrorKind::Integrity) code = SQLITE_CONSTRAINT;
        // SQLite has one message: DETAIL and HINT follow it.
        std::string message = e.what();
        if (!e.detail().empty()) message += " (" + e.detail() + ")";
        if (!e.hint().empty()) message += "; hint: " + e.hint();
        report(ctx, def.name, message, code);
    } catch (const std::bad_alloc&) {
        sqlite3_result_error_nomem(ctx);
    } catch (const std::exception& e) {
        report(ctx, def.name, e.what(), SQLITE_ERROR);
    } catch (...) {
        report(ctx, def.name, "unexpected internal error", SQLITE_ERROR);
    }
}

}  // namespace

int register_sql_functions(Connection* conn, char** errmsg) {
    for (const FnDef& def : kFunctions) {
        auto* b = new Binding{conn, &def};
        conn->add_ref();
        // Side effects everywhere: direct calls only, never deterministic or
        // innocuous (so no use from triggers, views or schema expressions).
        int rc = sqlite3_create_function_v2(conn->db, def.name, -1, SQLITE_UTF8 | SQLITE_DIRECTONLY, b, dispatch,
                                            nullptr, nullptr, destroy_binding);
        if (rc != SQLITE_OK) {
            // SQLite has already called destroy_binding on failure.
            if (errmsg) *errmsg = sqlite3_mprintf("bgupdate: cannot register %s: %s", def.name, sqlite3_errmsg(conn->db));
            return rc;
        }
    }
    return SQLITE_OK;
}

}  // namespace bgupdate_sqlite
