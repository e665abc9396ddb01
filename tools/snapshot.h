// Full-schema snapshots (Synapse's full_schemas/<version>/full.sql.<engine>)
// made from a database at that version with every background update done:
// its schema, then the rows its tables hold (the rows the schema files
// inserted: stream positions, sequences), without the extension's own
// objects and the schema-version state, which the directory's version and
// migrate's apply_schema_snapshot carry. Output is ordered the same way every
// time so that two snapshots diff well.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "connection.h"

namespace bgtool {

struct SnapshotOptions {
    std::string pg_dump;            // explicit pg_dump (default: found, pg_dump.h)
    int64_t max_table_rows = 1000;  // a table with more rows is application data, not a schema's rows
};

struct Snapshot {
    std::string text;
    int64_t statements = 0;
    int64_t tables = 0;
    int64_t rows = 0;  // INSERTed rows
    std::vector<std::string> warnings;
    std::string made_by;  // "pg_dump 15 (/usr/lib/postgresql/15/bin/pg_dump)" or "sqlite_schema"
};

// PostgreSQL: pg_dump --schema-only, then --data-only --inserts, both without
// the bgupdate schema and the views migrate makes over it, cleaned as
// Synapse's make_full_schema.sh cleans them (no SET lines, comments, blank
// lines or psql meta-commands; the application's schema name unqualified).
Snapshot postgres_snapshot(Connection& db, const std::string& conninfo, const SnapshotOptions& options);

// SQLite: tables by name each followed by its indexes and triggers, then
// views, from sqlite_schema (shadow tables of virtual tables left out), then
// each table's rows in key order as INSERTs.
Snapshot sqlite_snapshot(Connection& db, const SnapshotOptions& options);

// Throws bgupdate::Error (bad input) when a table holds more than `max_rows`
// rows: `count_sql` counts at most max_rows + 1 of them.
void refuse_application_data(Connection& db, const std::string& table, const std::string& count_sql, int64_t max_rows);

}  // namespace bgtool
