// Thin adapters: SQLite arguments -> one Api call -> SQLite result. Every C++
// exception is caught here and reported with sqlite3_result_error, prefixed
// with the function's name.
#include "sql_functions.h"

#include <cstring>
#include <new>
#include <string>

#include "abandoned_batch.h"
#include "args.h"
#include "errors.h"
#include "handler_kind.h"
#include "registration.h"
#include "runner.h"
#include "settings.h"
#include "sql_arguments.h"
#include "sql_surface.h"
#include "store.h"

using bgupdate::Error;
using bgupdate::ErrorKind;

namespace bgupdate_sqlite {

namespace {

struct Call {
    Connection& conn;
    const Args& args;
    sqlite3_context* ctx;
    const bgupdate::sql::Function& fn;  // the function called
    bgupdate::Api& api() { return conn.api; }

    void null() { sqlite3_result_null(ctx); }
    void integer(int64_t v) { sqlite3_result_int64(ctx, v); }
    void boolean(bool v) { sqlite3_result_int(ctx, v ? 1 : 0); }
    void text(const std::string& s) {
        sqlite3_result_text(ctx, s.data(), static_cast<int>(s.size()), SQLITE_TRANSIENT);
    }
};

struct Impl {
    const char* name;  // as sql_surface.h declares it (without the bgupdate_ prefix)
    void (*call)(Call&);
};

// ---- registration -------------------------------------------------------

// A registration made on this connection is the application's own: with
// PRAGMA trusted_schema OFF only such registrations run (connection_trust.h).
void remember_registration(Call& c, const std::string& update_name) {
    if (auto reg = bgupdate::Store(c.conn.engine).registration(update_name))
        c.conn.trust->remember_registration(update_name, bgupdate::handler_kind_name(reg->kind), reg->spec_json);
}

// Every handler kind's register_* function (its row in
// common/handlers/handler_kinds.cpp names it): the kind's registration reads
// the arguments.
void register_kind(Call& c) {
    const bgupdate::HandlerKindTraits* kind = bgupdate::handler_kind_registered_by(c.fn.name);
    if (!kind) throw Error(ErrorKind::Failure, std::string("internal error: ") + c.fn.name + " registers no handler kind");
    c.api().register_update(kind->kind, bgupdate::ArgumentsOf<Args>(c.args));
    // Naming its own function here is the application allowing batches to call it.
    if (kind->kind == bgupdate::HandlerKind::Generic) c.conn.trust->allow_function(c.args.text("handler"));
    remember_registration(c, c.args.text("update_name"));
    c.null();
}

// The application lets statements of batches call one of its functions
// (fragments read from the database file may call only built-in ones).
void allow_function(Call& c) {
    std::string name = c.args.text("function_name");
    bgupdate::Registrar::require_name(name, "function_name");
    c.conn.trust->allow_function(name);
    c.null();
}

void add_constraint_and_enqueue(Call& c) {
    // The rows the table's rebuild removed.
    c.integer(c.api().add_constraint_and_enqueue(bgupdate::constraint_delta_args(c.args)));
}

// ---- queue --------------------------------------------------------------

void enqueue(Call& c) {
    std::string name = c.args.text("update_name");
    int64_t ordering = c.args.opt_integer("ordering", 0);
    std::optional<std::string> depends_on = c.args.opt_text("depends_on");
    std::string progress = c.args.has("progress") ? c.args.text("progress") : "{}";
    c.api().enqueue(name, ordering, depends_on, progress);
    c.null();
}

void update_progress(Call& c) {
    c.api().update_progress(c.args.text("update_name"), c.args.text("progress"));
    c.null();
}

void end_update(Call& c) {
    std::string name = c.args.text("update_name");
    bgupdate::refuse_end_update_inside(c.conn.open_batch, name);
    c.api().end_update(name);
    c.null();
}

// ---- running ------------------------------------------------------------

void step(Call& c) { c.text(c.api().step().to_json()); }

// The application-run protocol: no callback into the application, so any
// driver can use it (better-sqlite3 refuses re-entrant queries).
void register_application_update(Call& c) {
    std::string name = c.args.text("update_name");
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
    int64_t items = c.args.non_negative("items");
    auto progress = c.args.opt_text("progress");
    bool done = c.args.opt_boolean("done", false);
    if (std::string why = abandoned_batch_reason(c.conn); !why.empty()) return c.text(settle_abandoned_batch(c.conn, why).to_json());
    c.text(c.api().batch_end(c.conn.open_batch, items, progress, done).to_json());
}

void batch_fail(Call& c) {
    WatchOpenBatch watch{c.conn};
    if (std::string why = abandoned_batch_reason(c.conn); !why.empty()) return c.text(settle_abandoned_batch(c.conn, why).to_json());
    c.text(c.api().batch_fail(c.conn.open_batch, c.args.opt_text("message").value_or("")).to_json());
}

// run() without an argument runs until the queue is empty (as on PostgreSQL).
void run(Call& c) {
    c.text(c.api().run(c.args.count() == 0 ? (int64_t{1} << 53) : c.args.non_negative("max_ms")).to_json());
}

void finish(Call& c) {
    std::string name = c.args.text("update_name");
    std::optional<int64_t> timeout_ms;
    if (c.args.has("timeout_ms")) timeout_ms = c.args.non_negative("timeout_ms");
    c.api().finish(name, timeout_ms);
    c.null();
}

void reset(Call& c) {
    c.api().reset(c.args.text("update_name"));
    c.null();
}

void cancel(Call& c) { c.boolean(c.api().cancel(c.args.text("update_name"))); }

void has_completed(Call& c) { c.boolean(c.api().has_completed(c.args.text("update_name"))); }

void has_completed_all(Call& c) { c.boolean(c.api().has_completed_all()); }

// ---- control ------------------------------------------------------------

void set_enabled(Call& c) {
    c.api().set_enabled(c.args.boolean("enabled"));
    c.null();
}

void enabled(Call& c) { c.boolean(c.api().enabled()); }

void pause(Call& c) {
    c.api().pause(c.args.text("update_name"));
    c.null();
}

void resume(Call& c) {
    c.api().resume(c.args.text("update_name"));
    c.null();
}

void retry(Call& c) {
    c.api().retry(c.args.text("update_name"));
    c.null();
}

void config(Call& c) {
    std::string key = c.args.text("key");
    if (c.args.count() >= 2) {
        std::string v = c.api().config(key, c.args.text("value"));
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
    c.api().check_schema_compat(c.args.integer("code_version"));
    c.null();
}

void apply_schema_delta(Call& c) {
    c.boolean(c.api().apply_schema_delta(c.args.non_negative("version"), c.args.text("file_name"),
                                         c.args.text("sql")));
}

void set_schema_version(Call& c) {
    c.api().set_schema_version(c.args.non_negative("version"), c.args.non_negative("compat_version"));
    c.null();
}

void apply_schema_snapshot(Call& c) {
    c.api().apply_schema_snapshot(c.args.non_negative("version"), c.args.text("file_name"),
                                  c.args.text("sql"));
    c.null();
}

void skip_schema_delta(Call& c) {
    c.boolean(c.api().skip_schema_delta(c.args.non_negative("version"), c.args.text("file_name"),
                                        c.args.text("reason")));
}

void adopt_queue(Call& c) { c.text(c.api().adopt_queue()); }

void estimate(Call& c) { c.text(c.api().estimate(c.args.text("update_name"))); }

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

// The implementation of each SQLite function of the SQL surface
// (sql_surface.h declares its name and arguments); a handler kind's register_*
// function is register_kind (impl_of).
const Impl kImpls[] = {
    {"allow_function", allow_function},
    {"add_constraint_and_enqueue", add_constraint_and_enqueue},
    {"enqueue", enqueue},
    {"update_progress", update_progress},
    {"end_update", end_update},
    {"step", step},
    {"register_application_update", register_application_update},
    {"batch_begin", batch_begin},
    {"batch_end", batch_end},
    {"batch_fail", batch_fail},
    {"run", run},
    {"finish", finish},
    {"reset", reset},
    {"cancel", cancel},
    {"has_completed", has_completed},
    {"has_completed_all", has_completed_all},
    {"set_enabled", set_enabled},
    {"enabled", enabled},
    {"pause", pause},
    {"resume", resume},
    {"retry", retry},
    {"config", config},
    {"check_schema_compat", check_schema_compat},
    {"apply_schema_delta", apply_schema_delta},
    {"set_schema_version", set_schema_version},
    {"apply_schema_snapshot", apply_schema_snapshot},
    {"skip_schema_delta", skip_schema_delta},
    {"adopt_queue", adopt_queue},
    {"estimate", estimate},
    {"start", start},
    {"stop", stop},
};

Impl impl_of(const char* name) {
    for (const Impl& i : kImpls)
        if (std::strcmp(i.name, name) == 0) return i;
    if (bgupdate::handler_kind_registered_by(name)) return Impl{name, register_kind};
    return Impl{name, nullptr};
}

// What SQLite holds as each function's user data.
struct Binding {
    Connection* conn;
    const bgupdate::sql::Function* fn;
    Impl impl;
    std::string sql_name;  // bgupdate_<name>
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
    const bgupdate::sql::Function& fn = *b->fn;
    const char* name = b->sql_name.c_str();
    try {
        const int min_args = fn.min_args(bgupdate::sql::kSqlite), max_args = fn.arg_count();
        if (argc < min_args || argc > max_args) {
            std::string want = min_args == max_args ? std::to_string(min_args)
                                                    : std::to_string(min_args) + " to " + std::to_string(max_args);
            bgupdate::bad_input("takes " + want + " argument(s), got " + std::to_string(argc));
        }
        Args args(fn, argc, argv);
        Call call{*b->conn, args, ctx, fn};
        SqliteEngine::StatementScope keep_statements(b->conn->engine);  // for this call only
        // Own tables are created on first use (cheap when they exist). Not for
        // start/stop, which touch nothing on this connection.
        if (b->impl.call != start && b->impl.call != stop) b->conn->api.ensure_schema();
        b->conn->engine.take_silent_application_failure();
        b->impl.call(call);
        // A driver that passed no message for its function's error (better-sqlite3)
        // must see this statement fail, or it loses track of its own exception.
        if (b->conn->engine.take_silent_application_failure())
            return report(ctx, name, "an application function failed (its driver passed no message; the "
                                         "failure is recorded in the update's last_error)", SQLITE_ERROR);
    } catch (const Error& e) {
        int code = SQLITE_ERROR;
        if (e.kind() == ErrorKind::LockTimeout) code = SQLITE_BUSY;
        if (e.kind() == ErrorKind::Integrity) code = SQLITE_CONSTRAINT;
        // SQLite has one message: DETAIL and HINT follow it.
        std::string message = e.what();
        if (!e.detail().empty()) message += " (" + e.detail() + ")";
        if (!e.hint().empty()) message += "; hint: " + e.hint();
        report(ctx, name, message, code);
    } catch (const std::bad_alloc&) {
        sqlite3_result_error_nomem(ctx);
    } catch (const std::exception& e) {
        report(ctx, name, e.what(), SQLITE_ERROR);
    } catch (...) {
        report(ctx, name, "unexpected internal error", SQLITE_ERROR);
    }
}

}  // namespace

int register_sql_functions(Connection* conn, char** errmsg) {
    for (const bgupdate::sql::Function& fn : bgupdate::sql::kFunctions) {
        // bgupdate_version is registered at load, before any connection state (version_function.h).
        if (!fn.on(bgupdate::sql::kSqlite) || std::strcmp(fn.name, "version") == 0) continue;
        Impl impl = impl_of(fn.name);
        std::string sql_name = std::string("bgupdate_") + fn.name;
        if (!impl.call) {
            if (errmsg) *errmsg = sqlite3_mprintf("bgupdate: %s has no implementation", sql_name.c_str());
            return SQLITE_INTERNAL;
        }
        auto* b = new Binding{conn, &fn, impl, sql_name};
        conn->add_ref();
        // Side effects everywhere: direct calls only, never deterministic or
        // innocuous (so no use from triggers, views or schema expressions).
        // Any number of arguments: dispatch checks the count, with a message
        // that says what the function takes.
        int rc = sqlite3_create_function_v2(conn->db, sql_name.c_str(), -1, SQLITE_UTF8 | SQLITE_DIRECTONLY, b,
                                            dispatch, nullptr, nullptr, destroy_binding);
        if (rc != SQLITE_OK) {
            // SQLite has already called destroy_binding on failure.
            if (errmsg) *errmsg = sqlite3_mprintf("bgupdate: cannot register %s: %s", sql_name.c_str(), sqlite3_errmsg(conn->db));
            return rc;
        }
    }
    return SQLITE_OK;
}

}  // namespace bgupdate_sqlite
