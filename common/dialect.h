// SQL text that differs between PostgreSQL and SQLite: quoting, the names of
// the extension's own tables, catalog queries, and DDL. Pure functions only.
#pragma once

#include <string>
#include <vector>

#include "engine.h"

namespace bgupdate {

enum class OwnTable { Queue, Registry, State, History, Config, SchemaVersion, SchemaCompat, AppliedDeltas, SkippedDeltas };

class Dialect {
public:
    enum class Kind { Postgres, Sqlite };
    explicit Dialect(Kind kind) : kind_(kind) {}
    Kind kind() const { return kind_; }
    bool is_postgres() const { return kind_ == Kind::Postgres; }
    bool is_sqlite() const { return kind_ == Kind::Sqlite; }
    // The one of two spellings that is this engine's, for tables that say a
    // thing for each engine side by side (the store's schema).
    template <class T>
    const T& pick(const T& sqlite, const T& postgres) const {
        return is_postgres() ? postgres : sqlite;
    }

    // "name" with embedded quotes doubled. Rejects empty names and NUL bytes.
    std::string ident(const std::string& name) const;
    // A table name given by a user: on PostgreSQL "schema.table" is split at
    // its one dot; otherwise the whole text is one identifier.
    std::string table(const std::string& name) const;
    // The schema prefix of a user table name ("" when unqualified), quoted, with trailing dot.
    std::string schema_prefix_of(const std::string& table_name) const;
    // 'text' literal (PostgreSQL: E'' form when backslashes are present).
    std::string literal(const std::string& text) const;
    std::string literal(const Value& v) const;
    std::string literal(int64_t v) const { return std::to_string(v); }
    std::string boolean(bool v) const { return v ? "TRUE" : "FALSE"; }
    // The placeholder of bound parameter number n (from 1): $n on
    // PostgreSQL, ?n on SQLite (numbered, so one value may be used twice).
    std::string placeholder(int n) const;

    // The extension's own tables.
    std::string own(OwnTable t) const;

    // Catalog: one row per column name of `table` (none if the table is missing).
    std::string columns_of_table_sql(const std::string& table_name) const;
    // Catalog: one row (column name, whether it can never hold NULL) per column
    // of `table`. SQLite: an INTEGER PRIMARY KEY (rowid alias) and the primary
    // key of a WITHOUT ROWID table are never NULL; other primary keys may be.
    std::string not_null_columns_sql(const std::string& table_name) const;
    // Catalog: the unique keys of `table` that prove rows distinct: its primary
    // key and unique indexes that are valid, not partial and without
    // expressions. One row (key id, column name) per key column.
    std::string unique_keys_sql(const std::string& table_name) const;
    // Whether an update name is taken (registered or queued) and by which
    // owner (NULL: none recorded, or a dropped role), seen past PostgreSQL's
    // row-level security, which hides other roles' registrations.
    std::string owner_of_sql(const std::string& update_name) const;
    // The rows of a table, for an update's total (one row, one integer, or
    // NULL when unknown). SQLite: counted. PostgreSQL: the statistics
    // (reltuples), or, for a table without (never analyzed), the live rows
    // counted in up to 64 pages spread evenly over the table (TID range
    // scans) times its pages.
    std::string row_estimate_sql(const std::string& table_name) const;
    // Whether that estimate comes from statistics (one boolean row); empty
    // when it is always exact (SQLite).
    std::string has_statistics_sql(const std::string& table_name) const;

    // Rows of a query, estimated: one row, one value, for SELECT 1 FROM
    // `from` WHERE `where`. PostgreSQL: the planner's EXPLAIN (FORMAT JSON)
    // text (nothing is scanned); SQLite: an exact count(*) (read with
    // estimated_rows in handlers/handler.h).
    std::string range_row_estimate_sql(const std::string& from, const std::string& where) const;
    // Appended to a SELECT of one of the extension's rows to lock it until
    // the batch ends (PostgreSQL FOR UPDATE; SQLite's write transaction
    // already excludes every other writer).
    std::string lock_rows_clause() const;

    // One row when a table `name` exists in `schema`, none otherwise.
    std::string relation_exists_sql(const std::string& schema, const std::string& name) const;

    // Whether row_estimate_sql reads statistics (cheap: PostgreSQL) rather
    // than counting the rows (SQLite).
    bool estimates_from_statistics() const;
    // CREATE/DROP INDEX CONCURRENTLY (PostgreSQL): an index built without
    // blocking writes, by statements that must run outside any transaction
    // block and that leave an invalid index behind when they fail.
    bool concurrent_index_builds() const;
    // "CONCURRENTLY " where concurrent_index_builds, "" otherwise.
    std::string concurrently() const { return concurrent_index_builds() ? "CONCURRENTLY " : ""; }
    // Validates a constraint added NOT VALID (PostgreSQL); "" where every
    // constraint is valid once it exists (SQLite).
    std::string validate_constraint_sql(const std::string& quoted_table, const std::string& constraint_name) const;

    // ---- declarative partitions (PostgreSQL; SQLite has none: "") ----
    // The tree under a partitioned table: (schema, name, parent schema,
    // parent name, is leaf, level), root first; no rows when the table is
    // not partitioned.
    std::string partition_tree_sql(const std::string& table_name) const;
    // The partition key columns of a partitioned table (NULL for an expression).
    std::string partition_key_columns_sql(const std::string& table_name) const;
    // One row (is valid) when the index `quoted_index` exists; none otherwise
    // ("" where indexes are never invalid: SQLite).
    std::string index_validity_sql(const std::string& quoted_index) const;
    // The name of the index on `quoted_table` attached to the partitioned
    // index `quoted_parent_index`, if any (one row).
    std::string attached_index_sql(const std::string& quoted_table, const std::string& quoted_parent_index) const;
    // The leaf partitions of a partitioned table whose constraint of that name
    // is not validated yet: (schema, name), in tree order.
    std::string unvalidated_partitions_sql(const std::string& table_name, const std::string& constraint_name) const;
    // One row (validated) when `quoted_table` has a constraint of that name.
    std::string constraint_validated_sql(const std::string& quoted_table, const std::string& constraint_name) const;

    // DDL that creates the extension's tables when missing: SQLite, the
    // latest store layout (store_schema.h); PostgreSQL, none (the extension
    // ships its own install script).
    std::vector<std::string> schema_ddl() const;

private:
    Kind kind_;
};

// The values bound to one statement: add() binds the next one and returns
// its placeholder, to write into the statement's text where the literal was.
class BoundValues {
public:
    explicit BoundValues(const Dialect& d) : d_(&d) {}
    std::string add(const Value& v) {
        values_.push_back(v);
        return d_->placeholder(static_cast<int>(values_.size()));
    }
    std::string add(const std::string& text) { return add(Value::of(text)); }
    std::string add(int64_t v) { return add(Value::of(v)); }
    const std::vector<Value>& values() const { return values_; }
    const Dialect& dialect() const { return *d_; }

private:
    const Dialect* d_;
    std::vector<Value> values_;
};

// Join already-quoted pieces with a separator.
std::string join(const std::vector<std::string>& parts, const std::string& sep);

}  // namespace bgupdate
