// The extension's own tables (the store), said once: a numbered list of
// store versions, each a list of steps (create a table, add a column, create
// a trigger), rendered to SQL per dialect. SQLite files are created and
// upgraded from it (store_upgrade.h); the PostgreSQL install and upgrade
// scripts are checked against its latest layout (test/pg/pgtap).
//
// PostgreSQL extension versions hold these store versions: 1.0 = 1,
// 1.1 = 3, 1.2 = 4 (its scripts are written by hand, as ALTER EXTENSION
// needs them; the PostgreSQL rendering here is for comparison).
#pragma once

#include <string>
#include <vector>

#include "dialect.h"

namespace bgupdate {

// A column's type, as each dialect spells it (SQLite / PostgreSQL).
enum class StoreType {
    Text,    // TEXT / text
    Int,     // INT / integer
    BigInt,  // INT / bigint
    Flag,    // INT holding 0 or 1 / boolean
    Bool,    // BOOL / boolean (Synapse's shape)
    Real,    // REAL / double precision
    Lock,    // CHAR(1) / character(1)
    Owner,   // TEXT NOT NULL DEFAULT '' (no roles) / oid (a role; NULL once dropped)
    RowId,   // INTEGER PRIMARY KEY / bigserial PRIMARY KEY
};

// Which engines have an object.
enum class StoreEngines { Both, SqliteOnly, PostgresOnly };

struct StoreColumn {
    std::string name;
    StoreType type = StoreType::Text;
    bool not_null = false;
    std::string default_value;  // a SQL literal both dialects read alike; "" for none
    bool primary_key = false;
    bool unique = false;
    StoreEngines engines = StoreEngines::Both;
};

// An own table's name on each engine (PostgreSQL: in schema bgupdate).
struct StoreTableName {
    std::string sqlite;
    std::string postgres;
    const std::string& on(const Dialect& d) const { return d.pick(sqlite, postgres); }
};

struct StoreStep {
    enum class Kind { CreateTable, AddColumn, CreateTrigger };
    Kind kind = Kind::CreateTable;
    StoreTableName table;              // created, altered, or the trigger's table
    std::vector<StoreColumn> columns;  // CreateTable: every column; AddColumn: the one added
    std::vector<std::string> constraints;  // CreateTable: table constraints, same text for both
    std::string trigger_name;          // CreateTrigger
    std::string trigger_body;          // CreateTrigger: the text after its name
    StoreEngines engines = StoreEngines::Both;

    bool applies_to(const Dialect& d) const;
    // How an error names the step: "add column size_cap to bgupdate_state".
    std::string describe(const Dialect& d) const;
};

struct StoreVersion {
    int number = 0;
    std::string what;  // what it brought, for people reading the list
    std::vector<StoreStep> steps;
};

// Every store version, oldest first, numbered 1, 2, ...
const std::vector<StoreVersion>& store_versions();
int latest_store_version();

// SQLite: the table holding the file's store version (one row). It is part
// of version 1; a file without it predates store versions.
extern const char* const kStoreVersionTable;

// The SQL of one step for a dialect ("" when the step is not for it).
// if_missing: CREATE ... IF NOT EXISTS (a file from before store versions,
// whose objects may be there already); otherwise an object in the way fails.
std::string render_store_step(const Dialect& d, const StoreStep& step, bool if_missing);

// The latest layout on one engine: each table with its columns in order.
struct StoreLayoutTable {
    std::string name;  // as StoreTableName::on gives it
    std::vector<StoreColumn> columns;
};
std::vector<StoreLayoutTable> latest_store_layout(const Dialect& d);
// The latest layout as CREATE ... IF NOT EXISTS statements, each table
// with every column it has by now: how a new file gets its store at once.
std::vector<std::string> latest_store_ddl(const Dialect& d);
// Names of the triggers of the latest layout on one engine.
std::vector<std::string> latest_store_triggers(const Dialect& d);

// A column's type as the dialect spells it in DDL ("INT", "double precision");
// PostgreSQL names are those format_type() prints (RowId: bigint).
std::string store_type_name(const Dialect& d, StoreType type);
// Whether the column can never hold NULL on that engine.
bool store_column_not_null(const Dialect& d, const StoreColumn& c);

// The latest PostgreSQL layout as rows of a VALUES list:
// ('table', 'column', 'type', not_null), one line each, ordered.
std::string postgres_layout_values();

}  // namespace bgupdate
