// The tool's one narrow view of a database: run a statement with parameters,
// read rows as text. Two implementations: libpq (postgresql://…) and SQLite
// with the bgupdate extension loaded (sqlite:///path or a bare path). Every
// bgupdate call goes through the extension's SQL functions, so the tool does
// exactly what an application would do.
#pragma once

#include <map>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "dialect.h"

namespace bgtool {

// A database or connection error, as one line for the user.
class DbError : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

using Cell = std::optional<std::string>;

struct Param {
    Cell value;
    bool is_integer = false;
    static Param text(std::string v) { return {std::move(v), false}; }
    static Param integer(long long v) { return {std::to_string(v), true}; }
};

struct Result {
    std::vector<std::string> columns;
    std::vector<std::vector<Cell>> rows;
    // The value of `column` in row `r` (nullopt for NULL or a missing column).
    Cell get(size_t r, const std::string& column) const;
};

class Connection {
public:
    virtual ~Connection() = default;
    virtual bgupdate::Dialect::Kind engine() const = 0;
    bool is_postgres() const { return engine() == bgupdate::Dialect::Kind::Postgres; }
    const char* engine_name() const { return is_postgres() ? "postgresql" : "sqlite"; }

    // One statement; parameters are $1… (PostgreSQL) or ?1… (SQLite): use p().
    virtual Result query(const std::string& sql, const std::vector<Param>& params = {}) = 0;
    // Transaction control for work that spans several calls (snapshots).
    virtual void begin() = 0;
    virtual void commit() = 0;
    virtual void rollback() = 0;

    // The placeholder of parameter i (1-based), cast to `pg_type` on PostgreSQL.
    std::string p(int i, const char* pg_type = "text") const;
    // A bgupdate function or table: bgupdate.x on PostgreSQL, bgupdate_x on SQLite.
    std::string fn(const std::string& name) const;
    // Synapse-named tables: bgupdate.<name> on PostgreSQL, <name> on SQLite.
    std::string schema_table(const std::string& name) const;
    std::string status_source() const { return is_postgres() ? "bgupdate.status" : "bgupdate_status"; }
    // A boolean result cell as bool (PostgreSQL 't', SQLite 1).
    static bool truthy(const Cell& c);
};

struct ConnectOptions {
    std::string db;                 // postgresql://…, postgres://…, key=value conninfo, sqlite:///path, or a path
    std::string sqlite_extension;   // empty: find it (see open_connection)
    bool must_exist = true;         // SQLite: refuse a file that is not there
};

// Opens the database named by `db`. The SQLite extension is taken from
// sqlite_extension, else $BGUPDATE_SQLITE_EXTENSION, else the build tree next
// to this program, else the installed one (`bgupdate` on the loader path).
std::unique_ptr<Connection> open_connection(const ConnectOptions& options);

// Whether `db` names a PostgreSQL database; else the SQLite file it names.
bool is_postgres_url(const std::string& db);
std::string sqlite_path_of(const std::string& db);

std::unique_ptr<Connection> open_postgres(const std::string& conninfo);
std::unique_ptr<Connection> open_sqlite(const std::string& path, const std::string& extension, bool must_exist);

}  // namespace bgtool
