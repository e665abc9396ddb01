// The SQL surface in one place: every SQL function of the API (its name
// without the `bgupdate.` schema or `bgupdate_` prefix, its arguments in
// order, its result, which engines have it) and the status view's columns.
// Both bindings are driven by it: SQLite registers its functions and checks
// their argument counts from it, both read arguments by the names here (so
// errors name the argument as declared), and both status views take their
// columns from it. test/core/test_sql_surface.cpp checks it against the
// PostgreSQL extension scripts and the loaded SQLite extension.
//
// Adding a function: a row here, the PostgreSQL script's CREATE FUNCTION,
// and one wrapper per binding that calls the Api (none for a handler kind's
// register_* function: see "New handler kind" in the README).
#pragma once

#include <cstddef>
#include <string_view>

namespace bgupdate::sql {

// SQL types as both engines see them (PostgreSQL / SQLite).
enum class Type {
    None,       // no result (PostgreSQL: void)
    Text,       // text / TEXT
    FunctionName,  // text / TEXT; PostgreSQL also has a signature taking it as regprocedure
    BigInt,     // bigint / INTEGER
    Boolean,    // boolean / INTEGER 0 or 1 (arguments also 'true', 'false', ...)
    Json,       // jsonb / TEXT holding JSON
    TextArray,  // text[] / TEXT holding a JSON array of strings
    Real,       // double precision / REAL
    Timestamp,  // timestamptz / TEXT (ISO 8601)
    Procedure,  // PostgreSQL only: a procedure (CALL), no result
};

// Which engines have a function.
enum Engines : unsigned { kPostgres = 1u, kSqlite = 2u, kBoth = 3u };

// Whether a call may leave an argument out, and what it then is.
enum class Omit {
    Never,           // always passed
    Default,         // may be left out: PostgreSQL DEFAULT `dflt`, SQLite fewer arguments
    Overload,        // may be left out: PostgreSQL has a second signature without it, SQLite fewer arguments
    PostgresDefault, // PostgreSQL DEFAULT `dflt`; SQLite requires it
};

struct Arg {
    const char* name = nullptr;  // the PostgreSQL parameter name; nullptr ends the list
    Type type = Type::Text;
    Omit omit = Omit::Never;
    const char* dflt = nullptr;         // PostgreSQL DEFAULT, as the scripts spell it
    const char* sqlite_name = nullptr;  // the name SQLite's errors use when it differs

    constexpr const char* name_on(Engines e) const { return e == kSqlite && sqlite_name ? sqlite_name : name; }
    constexpr bool may_omit_on(Engines e) const {
        return omit == Omit::Default || omit == Omit::Overload || (omit == Omit::PostgresDefault && e == kPostgres);
    }
};

constexpr std::size_t kMaxArgs = 8;

struct Function {
    const char* name;
    unsigned engines;
    Type pg_result;
    Type sqlite_result;
    Arg args[kMaxArgs];

    constexpr int arg_count() const {
        int n = 0;
        while (n < static_cast<int>(kMaxArgs) && args[n].name) ++n;
        return n;
    }
    // Fewest arguments a call on `e` may pass (the rest may be left out).
    constexpr int min_args(Engines e) const {
        int n = arg_count();
        while (n > 0 && args[n - 1].may_omit_on(e)) --n;
        return n;
    }
    constexpr bool on(Engines e) const { return (engines & e) != 0; }
    // The position of the argument named `arg` (its PostgreSQL name); -1 when none.
    constexpr int position(std::string_view arg) const {
        for (int i = 0; i < arg_count(); ++i)
            if (arg == args[i].name) return i;
        return -1;
    }
};

namespace detail {
constexpr Arg req(const char* name, Type t = Type::Text) { return Arg{name, t, Omit::Never, nullptr, nullptr}; }
constexpr Arg opt(const char* name, Type t, const char* dflt) { return Arg{name, t, Omit::Default, dflt, nullptr}; }
constexpr Arg overload(const char* name, Type t) { return Arg{name, t, Omit::Overload, nullptr, nullptr}; }
constexpr Arg renamed(Arg a, const char* sqlite_name) {
    a.sqlite_name = sqlite_name;
    return a;
}
}  // namespace detail

// clang-format off
inline constexpr Function kFunctions[] = {
    // ---- registration
    {"register_update_handler", kBoth, Type::None, Type::None,
     {detail::req("update_name"), detail::req("handler", Type::FunctionName)}},
    {"allow_function", kSqlite, Type::None, Type::None, {detail::req("function_name")}},
    {"register_index_update", kBoth, Type::None, Type::None,
     {detail::req("update_name"), detail::req("index_name"), detail::req("table"), detail::req("columns", Type::TextArray),
      detail::opt("where_clause", Type::Text, "NULL"), detail::opt("is_unique", Type::Boolean, "false"),
      detail::opt("psql_only", Type::Boolean, "false"), detail::opt("replaces_index", Type::Text, "NULL")}},
    {"register_validate_constraint", kBoth, Type::None, Type::None,
     {detail::req("update_name"), detail::req("constraint_name"), detail::req("table")}},
    {"register_validate_constraint_and_delete_rows", kBoth, Type::None, Type::None,
     {detail::req("update_name"), detail::req("table"), detail::req("constraint_name"), detail::req("constraint", Type::Json),
      detail::req("unique_columns", Type::TextArray), detail::opt("fixed_range", Type::Boolean, "false"),
      detail::opt("min_key", Type::Json, "NULL"), detail::opt("max_key", Type::Json, "NULL")}},
    // SQLite: the rows its table rebuild removed.
    {"add_constraint_and_enqueue", kBoth, Type::None, Type::BigInt,
     {detail::req("ordering", Type::BigInt), detail::req("update_name"), detail::req("table"), detail::req("constraint_name"),
      detail::req("constraint", Type::Json), Arg{"sqlite_table_name", Type::Text, Omit::PostgresDefault, "NULL", nullptr},
      Arg{"sqlite_table_schema", Type::Text, Omit::PostgresDefault, "NULL", nullptr}}},
    {"register_batched_update", kBoth, Type::None, Type::None,
     {detail::req("update_name"), detail::req("table"), detail::req("key_columns", Type::TextArray), detail::req("set_clause"),
      detail::opt("where_clause", Type::Text, "NULL"), detail::opt("fixed_range", Type::Boolean, "false"),
      detail::opt("min_key", Type::Json, "NULL"), detail::opt("max_key", Type::Json, "NULL")}},
    {"register_application_update", kBoth, Type::None, Type::None, {detail::req("update_name")}},
    // ---- queue
    {"enqueue", kBoth, Type::None, Type::None,
     {detail::req("update_name"), detail::opt("ordering", Type::BigInt, "0"), detail::opt("depends_on", Type::Text, "NULL"),
      detail::renamed(detail::opt("progress", Type::Json, "'{}'"), "progress_json")}},
    {"update_progress", kBoth, Type::None, Type::None,
     {detail::req("update_name"), detail::renamed(detail::req("progress", Type::Json), "progress_json")}},
    {"end_update", kBoth, Type::None, Type::None, {detail::req("update_name")}},
    // ---- running
    {"step", kBoth, Type::Json, Type::Json, {}},
    // PostgreSQL: CALL run() / run(max_ms), the summary at DEBUG1; SQLite returns it.
    {"run", kBoth, Type::Procedure, Type::Json, {detail::overload("max_ms", Type::BigInt)}},
    {"finish", kBoth, Type::None, Type::None, {detail::req("update_name"), detail::opt("timeout_ms", Type::BigInt, "NULL")}},
    {"reset", kBoth, Type::None, Type::None, {detail::req("update_name")}},
    {"cancel", kBoth, Type::Boolean, Type::Boolean, {detail::req("update_name")}},
    {"has_completed", kBoth, Type::Boolean, Type::Boolean, {detail::req("update_name")}},
    {"has_completed_all", kBoth, Type::Boolean, Type::Boolean, {}},
    {"batch_begin", kBoth, Type::Json, Type::Json, {}},
    {"batch_end", kBoth, Type::Json, Type::Json,
     {detail::req("items", Type::BigInt), detail::renamed(detail::opt("progress", Type::Json, "NULL"), "progress_json"),
      detail::opt("done", Type::Boolean, "false")}},
    // PostgreSQL raises (the application rolls back); SQLite returns the failure as step() reports it.
    {"batch_fail", kBoth, Type::None, Type::Json, {detail::opt("message", Type::Text, "NULL")}},
    {"estimate", kBoth, Type::Json, Type::Json, {detail::req("update_name")}},
    // ---- control
    {"set_enabled", kBoth, Type::None, Type::None, {detail::req("enabled", Type::Boolean)}},
    {"enabled", kBoth, Type::Boolean, Type::Boolean, {}},
    {"pause", kBoth, Type::None, Type::None, {detail::req("update_name")}},
    {"resume", kBoth, Type::None, Type::None, {detail::req("update_name")}},
    {"retry", kBoth, Type::None, Type::None, {detail::req("update_name")}},
    {"config", kBoth, Type::Text, Type::Text, {detail::req("key"), detail::overload("value", Type::Text)}},
    {"version", kBoth, Type::Text, Type::Text, {}},
    // ---- schema versions and deltas
    {"check_schema_compat", kBoth, Type::None, Type::None, {detail::req("code_version", Type::BigInt)}},
    {"apply_schema_delta", kBoth, Type::Boolean, Type::Boolean,
     {detail::req("version", Type::BigInt), detail::req("file_name"), detail::req("sql")}},
    {"set_schema_version", kBoth, Type::None, Type::None,
     {detail::req("version", Type::BigInt), detail::req("compat_version", Type::BigInt)}},
    {"apply_schema_snapshot", kBoth, Type::None, Type::None,
     {detail::req("version", Type::BigInt), detail::req("file_name"), detail::req("sql")}},
    {"skip_schema_delta", kBoth, Type::Boolean, Type::Boolean,
     {detail::req("version", Type::BigInt), detail::req("file_name"), detail::req("reason")}},
    {"adopt_queue", kBoth, Type::Json, Type::Json, {}},
    // ---- SQLite's background thread
    {"start", kSqlite, Type::None, Type::Boolean, {}},
    {"stop", kSqlite, Type::None, Type::Boolean, {}},
};
// clang-format on

constexpr const Function* find_function(std::string_view name) {
    for (const Function& f : kFunctions)
        if (name == f.name) return &f;
    return nullptr;
}

// The function named `name`; naming one that is not declared does not compile
// where the result is used in a constant expression.
constexpr const Function& function(std::string_view name) {
    const Function* f = find_function(name);
    return f ? *f : throw "not a function of the SQL surface";
}

// ---- the status view (PostgreSQL bgupdate.status, SQLite bgupdate_status)

struct Column {
    const char* name;
    Type type;
};

// In order; StatusColumn (status.h) numbers them, status_cell reads them.
inline constexpr Column kStatusColumns[] = {
    {"update_name", Type::Text},
    {"state", Type::Text},
    {"ordering", Type::BigInt},
    {"depends_on", Type::Text},
    {"batches", Type::BigInt},
    {"items_done", Type::BigInt},
    {"total_estimate", Type::BigInt},
    {"percent", Type::Real},
    {"avg_items_per_ms", Type::Real},
    {"total_items_per_ms", Type::Real},
    {"batch_size", Type::BigInt},
    {"eta_seconds", Type::Real},
    {"attempts", Type::BigInt},
    {"last_error", Type::Text},
    {"started_at", Type::Timestamp},
    {"updated_at", Type::Timestamp},
    {"completed_at", Type::Timestamp},
    {"hold_reason", Type::Text},  // 1.1 (PostgreSQL); a 1.0 schema's view ends before it
    {"hold_until", Type::Timestamp},
    {"estimate_is_rough", Type::Boolean},
};

constexpr int kStatusColumnCount = static_cast<int>(sizeof kStatusColumns / sizeof kStatusColumns[0]);

constexpr int status_column(std::string_view name) {
    for (int i = 0; i < kStatusColumnCount; ++i)
        if (name == kStatusColumns[i].name) return i;
    throw "not a status column";
}

}  // namespace bgupdate::sql
