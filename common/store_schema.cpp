// The store's versions, oldest first. A released version is never edited:
// a change to the store is a new version at the end of the list (and, for
// PostgreSQL, a new upgrade script saying the same).
#include "store_schema.h"

#include <cctype>
#include <map>

#include "errors.h"

namespace bgupdate {

const char* const kStoreVersionTable = "bgupdate_store_version";

namespace {

using T = StoreType;
using E = StoreEngines;

StoreColumn col(std::string name, StoreType type, bool not_null = false, std::string default_value = "") {
    StoreColumn c;
    c.name = std::move(name);
    c.type = type;
    c.not_null = not_null;
    c.default_value = std::move(default_value);
    return c;
}
StoreColumn key(std::string name, StoreType type) {
    StoreColumn c = col(std::move(name), type);
    c.primary_key = true;
    return c;
}

StoreStep create_table(StoreTableName name, std::vector<StoreColumn> columns, std::vector<std::string> constraints = {},
                       StoreEngines engines = E::Both) {
    StoreStep s;
    s.kind = StoreStep::Kind::CreateTable;
    s.table = std::move(name);
    s.columns = std::move(columns);
    s.constraints = std::move(constraints);
    s.engines = engines;
    return s;
}
StoreStep add_column(StoreTableName table, StoreColumn column, StoreEngines engines = E::Both) {
    StoreStep s;
    s.kind = StoreStep::Kind::AddColumn;
    s.table = std::move(table);
    s.columns = {std::move(column)};
    s.engines = engines;
    return s;
}
StoreStep sqlite_trigger(StoreTableName table, std::string name, std::string body) {
    StoreStep s;
    s.kind = StoreStep::Kind::CreateTrigger;
    s.table = std::move(table);
    s.trigger_name = std::move(name);
    s.trigger_body = std::move(body);
    s.engines = E::SqliteOnly;
    return s;
}

// Names as Dialect::own gives them (test/core/test_store_schema.cpp checks).
const StoreTableName kQueue{"background_updates", "background_updates"};
const StoreTableName kRegistry{"bgupdate_registry", "update_registry"};
const StoreTableName kState{"bgupdate_state", "update_state"};
const StoreTableName kHistory{"bgupdate_history", "update_history"};
const StoreTableName kConfig{"bgupdate_config", "config"};
const StoreTableName kSchemaVersion{"schema_version", "schema_version"};
const StoreTableName kSchemaCompat{"schema_compat_version", "schema_compat_version"};
const StoreTableName kAppliedDeltas{"applied_schema_deltas", "applied_schema_deltas"};
const StoreTableName kLogicalDatabases{"bgupdate_logical_databases", "logical_databases"};
const StoreTableName kStoreVersion{kStoreVersionTable, ""};
// PostgreSQL only: SQLite creates bgupdate_skipped_schema_deltas when it
// first skips a delta (schema_apply.cpp); `bgupdate port` writes into
// PostgreSQL only.
const StoreTableName kSkippedDeltas{"", "skipped_schema_deltas"};
const StoreTableName kPortProgress{"", "port_progress"};

// SQLite would keep 'abc' in an INT column (and the queue read it as 0):
// a non-integer ordering is refused, also on a table Synapse created.
std::string ordering_check(const std::string& event) {
    return "BEFORE " + event + " ON background_updates WHEN typeof(NEW.ordering) NOT IN ('integer', 'null') BEGIN"
           " SELECT RAISE(ABORT, 'bgupdate: background_updates.ordering must be an integer'); END";
}

std::vector<StoreVersion> build_versions() {
    std::vector<StoreVersion> v;
    v.push_back(StoreVersion{
        1,
        "the queue (Synapse's shape), registry, state, history, settings and Synapse's schema-version tables",
        {
            create_table(kQueue,
                         {col("update_name", T::Text, true), col("progress_json", T::Text, true),
                          col("depends_on", T::Text), col("ordering", T::Int, true, "0")},
                         {"CONSTRAINT background_updates_uniqueness UNIQUE (update_name)"}),
            create_table(kRegistry, {key("update_name", T::Text), col("kind", T::Text, true),
                                     col("spec_json", T::Text, true), col("owner", T::Owner),
                                     col("search_path", T::Text, true, "''"), col("registered_at", T::Text, true)}),
            create_table(kState,
                         {key("update_name", T::Text), col("paused", T::Flag, true, "0"),
                          col("failed", T::Flag, true, "0"), col("attempts", T::BigInt, true, "0"),
                          col("total_failures", T::BigInt, true, "0"), col("last_error", T::Text),
                          col("next_attempt_at_ms", T::BigInt, true, "0"), col("batches", T::BigInt, true, "0"),
                          col("items_done", T::BigInt, true, "0"), col("total_estimate", T::BigInt),
                          col("avg_items", T::Real, true, "0"), col("avg_duration_ms", T::Real, true, "0"),
                          col("total_duration_ms", T::Real, true, "0"), col("batch_size", T::BigInt),
                          col("ordering", T::BigInt), col("depends_on", T::Text), col("started_at", T::Text),
                          col("updated_at", T::Text), col("completed_at", T::Text)}),
            create_table(kHistory, {col("id", T::RowId), col("update_name", T::Text, true), col("event", T::Text, true),
                                    col("batches", T::BigInt), col("items", T::BigInt), col("duration_ms", T::Real),
                                    col("detail", T::Text), col("at", T::Text, true)}),
            create_table(kConfig, {key("key", T::Text), col("value", T::Text, true)}),
            // Synapse's schema management tables, same shape.
            create_table(kSchemaVersion,
                         {[] { auto c = col("Lock", T::Lock, true, "'X'"); c.unique = true; return c; }(),
                          col("version", T::Int, true), col("upgraded", T::Bool, true)},
                         {"CHECK (Lock = 'X')"}),
            create_table(kSchemaCompat,
                         {[] { auto c = col("Lock", T::Lock, true, "'X'"); c.unique = true; return c; }(),
                          col("compat_version", T::Int, true)},
                         {"CHECK (Lock = 'X')"}),
            create_table(kAppliedDeltas, {col("version", T::Int, true), col("file", T::Text, true)},
                         {"UNIQUE (version, file)"}),
            // The file's store version (PostgreSQL: the extension's version).
            create_table(kStoreVersion,
                         {[] { auto c = col("lock", T::Lock, true, "'X'"); c.unique = true; return c; }(),
                          col("version", T::Int, true)},
                         {"CHECK (lock = 'X')"}, E::SqliteOnly),
        }});
    v.push_back(StoreVersion{2,
                             "the queue refuses a non-integer ordering",
                             {
                                 sqlite_trigger(kQueue, "bgupdate_queue_ordering_insert", ordering_check("INSERT")),
                                 sqlite_trigger(kQueue, "bgupdate_queue_ordering_update", ordering_check("UPDATE OF ordering")),
                             }});
    v.push_back(StoreVersion{
        3,
        "health checks: why and until when an update is on hold, the cap on its next batch; owned queue rows and "
        "skipped deltas (PostgreSQL)",
        {
            add_column(kState, col("hold_reason", T::Text)),
            add_column(kState, col("hold_until_ms", T::BigInt, true, "0")),
            add_column(kState, col("size_cap", T::BigInt)),
            add_column(kQueue, col("owner", T::Owner), E::PostgresOnly),
            create_table(kSkippedDeltas,
                         {col("version", T::Int, true), col("file", T::Text, true), col("reason", T::Text, true),
                          col("skipped_at", T::Text, true)},
                         {"UNIQUE (version, file)"}, E::PostgresOnly),
        }});
    v.push_back(StoreVersion{
        4,
        "which logical databases (Synapse: main, state) the database holds; port progress (PostgreSQL)",
        {
            create_table(kLogicalDatabases, {key("name", T::Text), col("recorded_at", T::Text, true)}),
            create_table(kPortProgress,
                         {key("table_name", T::Text), col("source", T::Text, true), col("key_columns", T::Text, true),
                          col("last_key", T::Text), col("rows_copied", T::BigInt, true, "0"),
                          col("done", T::Bool, true, "false"), col("updated_at", T::Text, true)},
                         {}, E::PostgresOnly),
        }});
    return v;
}

bool for_engine(StoreEngines e, const Dialect& d) {
    return d.pick(e != E::PostgresOnly, e != E::SqliteOnly);
}

std::string qualified(const Dialect& d, const StoreTableName& name) {
    return d.pick(name.sqlite, "bgupdate." + name.postgres);
}

std::string column_sql(const Dialect& d, const StoreColumn& c) {
    std::string out = c.name + " " + store_type_name(d, c.type);
    if (c.type == T::RowId) return c.name + d.pick<std::string>(" INTEGER", " bigserial") + " PRIMARY KEY";
    if (c.type == T::Owner) return d.pick(out + " NOT NULL DEFAULT ''", out);
    if (c.not_null) out += " NOT NULL";
    if (!c.default_value.empty()) out += " DEFAULT " + c.default_value;
    if (c.primary_key) out += " PRIMARY KEY";
    if (c.unique) out += " UNIQUE";
    return out;
}

}  // namespace

const std::vector<StoreVersion>& store_versions() {
    static const std::vector<StoreVersion> versions = build_versions();
    return versions;
}

int latest_store_version() { return store_versions().back().number; }

bool StoreStep::applies_to(const Dialect& d) const { return for_engine(engines, d); }

std::string StoreStep::describe(const Dialect& d) const {
    switch (kind) {
        case Kind::CreateTable: return "create table " + table.on(d);
        case Kind::AddColumn: return "add column " + columns.at(0).name + " to " + table.on(d);
        case Kind::CreateTrigger: return "create trigger " + trigger_name + " on " + table.on(d);
    }
    return "";
}

std::string store_type_name(const Dialect& d, StoreType type) {
    auto spelled = [&](const char* sqlite, const char* postgres) { return std::string(d.pick(sqlite, postgres)); };
    switch (type) {
        case T::Text: return spelled("TEXT", "text");
        case T::Int: return spelled("INT", "integer");
        case T::BigInt: return spelled("INT", "bigint");
        case T::Flag: return spelled("INT", "boolean");
        case T::Bool: return spelled("BOOL", "boolean");
        case T::Real: return spelled("REAL", "double precision");
        case T::Lock: return spelled("CHAR(1)", "character(1)");
        case T::Owner: return spelled("TEXT", "oid");
        case T::RowId: return spelled("INTEGER", "bigint");
    }
    return "";
}

bool store_column_not_null(const Dialect& d, const StoreColumn& c) {
    if (c.type == T::RowId) return true;
    if (c.type == T::Owner) return d.pick(true, false);
    // SQLite lets a PRIMARY KEY that is not a rowid hold NULL; PostgreSQL never.
    return c.not_null || (c.primary_key && d.pick(false, true));
}

std::string render_store_step(const Dialect& d, const StoreStep& s, bool if_missing) {
    if (!s.applies_to(d)) return "";
    const std::string maybe = if_missing ? "IF NOT EXISTS " : "";
    switch (s.kind) {
        case StoreStep::Kind::CreateTable: {
            std::vector<std::string> parts;
            for (auto& c : s.columns) {
                if (!for_engine(c.engines, d)) continue;
                parts.push_back(column_sql(d, c));
            }
            for (auto& k : s.constraints) parts.push_back(k);
            return "CREATE TABLE " + maybe + qualified(d, s.table) + " (" + join(parts, ", ") + ")";
        }
        case StoreStep::Kind::AddColumn:
            // SQLite has no ADD COLUMN IF NOT EXISTS: store_upgrade.cpp looks first.
            return "ALTER TABLE " + qualified(d, s.table) + " ADD COLUMN " + column_sql(d, s.columns.at(0));
        case StoreStep::Kind::CreateTrigger:
            return "CREATE TRIGGER " + maybe + s.trigger_name + " " + s.trigger_body;
    }
    return "";
}

std::vector<StoreLayoutTable> latest_store_layout(const Dialect& d) {
    std::vector<StoreLayoutTable> tables;
    std::map<std::string, size_t> at;
    for (auto& v : store_versions()) {
        for (auto& s : v.steps) {
            if (!s.applies_to(d)) continue;
            const std::string& name = s.table.on(d);
            if (s.kind == StoreStep::Kind::CreateTable) {
                at[name] = tables.size();
                tables.push_back(StoreLayoutTable{name, {}});
            }
            if (s.kind == StoreStep::Kind::CreateTrigger) continue;
            auto it = at.find(name);
            if (it == at.end()) throw Error(ErrorKind::Failure, "bgupdate internal error: store step '" +
                                                                   s.describe(d) + "' before its table is created");
            for (auto& c : s.columns)
                if (for_engine(c.engines, d)) tables[it->second].columns.push_back(c);
        }
    }
    return tables;
}

std::vector<std::string> latest_store_ddl(const Dialect& d) {
    // Each table as its last version has it (its added columns folded into
    // the CREATE), then the other objects.
    std::vector<StoreStep> tables, others;
    std::map<std::string, size_t> at;
    for (auto& v : store_versions())
        for (auto& s : v.steps) {
            if (!s.applies_to(d)) continue;
            if (s.kind == StoreStep::Kind::CreateTable) {
                at[s.table.on(d)] = tables.size();
                tables.push_back(s);
            } else if (s.kind == StoreStep::Kind::AddColumn) {
                tables.at(at.at(s.table.on(d))).columns.push_back(s.columns.at(0));
            } else {
                others.push_back(s);
            }
        }
    std::vector<std::string> out;
    for (auto& s : tables) out.push_back(render_store_step(d, s, true));
    for (auto& s : others) out.push_back(render_store_step(d, s, true));
    return out;
}

std::vector<std::string> latest_store_triggers(const Dialect& d) {
    std::vector<std::string> out;
    for (auto& v : store_versions())
        for (auto& s : v.steps)
            if (s.kind == StoreStep::Kind::CreateTrigger && s.applies_to(d)) out.push_back(s.trigger_name);
    return out;
}

std::string postgres_layout_values() {
    Dialect pg(Dialect::Kind::Postgres);
    std::vector<std::string> rows;
    for (auto& t : latest_store_layout(pg))
        for (auto& c : t.columns) {
            std::string name = c.name;
            for (auto& ch : name) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
            rows.push_back("('" + t.name + "', '" + name + "', '" + store_type_name(pg, c.type) + "', " +
                           (store_column_not_null(pg, c) ? "true" : "false") + ")");
        }
    return join(rows, ",\n");
}

}  // namespace bgupdate
