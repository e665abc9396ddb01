#include "queue_adoption.h"

#include <algorithm>
#include <string>
#include <vector>

#include "dialect.h"
#include "errors.h"

namespace bgupdate {
namespace {

const char* kSetAside = "bgupdate_queue_during_snapshot";  // SQLite

bool has(const std::vector<std::string>& cols, const char* c) {
    return std::find(cols.begin(), cols.end(), c) != cols.end();
}

std::vector<std::string> column_names(Engine& e, const std::string& catalog_sql) {
    std::vector<std::string> out;
    for (auto& r : e.query(catalog_sql)) out.push_back(r[0].as_text());
    return out;
}

// The columns to copy from a Synapse-shaped table (older Synapse schemas lack
// depends_on and ordering; the queue's defaults fill them).
std::string copy_columns(const std::vector<std::string>& cols, const std::string& what) {
    if (!has(cols, "update_name") || !has(cols, "progress_json"))
        bad_input(what + " is not shaped like Synapse's background_updates (it needs update_name and "
                  "progress_json columns); rename it, or move its rows into the queue yourself");
    std::string out = "update_name, progress_json";
    if (has(cols, "depends_on")) out += ", depends_on";
    if (has(cols, "ordering")) out += ", ordering";
    return out;
}

// ---- PostgreSQL -------------------------------------------------------------

// Synapse's tables that bgupdate keeps in schema bgupdate on PostgreSQL, and
// the columns a view of the same name shows.
struct SharedTable {
    const char* name;
    const char* columns;  // nullptr: the queue (columns checked, older shapes allowed)
};
const SharedTable kShared[] = {
    {"background_updates", nullptr},
    {"schema_version", "lock, version, upgraded"},
    {"schema_compat_version", "lock, compat_version"},
    {"applied_schema_deltas", "version, file"},
};

// The relation an unqualified name means here: oid, schema, relkind.
Rows pg_resolved(Engine& e, const std::string& name) {
    return e.query(
        "SELECT c.oid::bigint, n.nspname::text, c.relkind::text FROM pg_catalog.pg_class c"
        " JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace"
        " WHERE c.oid = pg_catalog.to_regclass(" + e.dialect().literal(name) + ")");
}

std::string view_columns(const SharedTable& t) {
    return t.columns ? t.columns : "update_name, progress_json, depends_on, ordering";
}

std::string pg_view_sql(const Dialect& d, const std::string& schema, const SharedTable& t) {
    // security_invoker: the table's row-level security applies to whoever
    // writes through the view, not to the view's owner.
    return "CREATE VIEW " + d.ident(schema) + "." + t.name + " WITH (security_invoker = true) AS SELECT " +
           view_columns(t) + " FROM bgupdate." + t.name;
}

AdoptionResult pg_adopt_one(Engine& e, const SharedTable& t) {
    const Dialect& d = e.dialect();
    AdoptionResult out;
    auto rel = pg_resolved(e, t.name);
    if (rel.empty()) {
        // None yet: provide the view in the first schema of the search_path,
        // when there is one the caller may create in.
        auto where = e.query("SELECT s::text, pg_catalog.has_schema_privilege(s, 'CREATE')"
                             " FROM pg_catalog.current_schema() s");
        if (where.empty() || where[0][0].is_null() || where[0][0].as_text() == "bgupdate") return out;
        std::string ok = where[0][1].as_text();
        if (ok != "t" && ok != "true" && ok != "1") return out;
        e.exec(pg_view_sql(d, where[0][0].as_text(), t));
        out.created_view = true;
        return out;
    }
    std::string schema = rel[0][1].as_text(), kind = rel[0][2].as_text();
    if (schema == "bgupdate" || kind == "v") return out;  // ours, or a view over ours already
    std::string qualified = d.ident(schema) + "." + t.name;
    if (kind != "r" && kind != "p")
        bad_input("'" + qualified + "' is neither a table nor a view; bgupdate cannot adopt it");
    std::string cols = t.columns ? t.columns
                                 : copy_columns(column_names(e, "SELECT attname::text FROM pg_catalog.pg_attribute"
                                                                " WHERE attrelid = " + rel[0][0].as_text() +
                                                                " AND attnum > 0 AND NOT attisdropped"),
                                                "table " + qualified);
    // Rows bgupdate already has win (a singleton version row, an update already queued).
    out.rows_moved = e.exec("INSERT INTO bgupdate." + std::string(t.name) + " (" + cols + ") SELECT " + cols +
                            " FROM " + qualified + " ON CONFLICT DO NOTHING");
    e.exec("DROP TABLE " + qualified);
    e.exec(pg_view_sql(d, schema, t));
    out.adopted_table = out.created_view = true;
    return out;
}

AdoptionResult pg_adopt(Engine& e) {
    AdoptionResult queue = pg_adopt_one(e, kShared[0]);
    for (size_t i = 1; i < sizeof kShared / sizeof kShared[0]; ++i)
        if (pg_adopt_one(e, kShared[i]).adopted_table) ++queue.schema_tables_adopted;
    return queue;
}

// ---- SQLite -----------------------------------------------------------------

bool sqlite_table_exists(Engine& e, const std::string& name) {
    return !e.query("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = " + e.dialect().literal(name))
                .empty();
}

AdoptionResult sqlite_adopt(Engine& e) {
    AdoptionResult out;
    if (!sqlite_table_exists(e, "background_updates")) {
        for (auto& sql : e.dialect().schema_ddl())
            if (sql.find("background_updates") != std::string::npos) e.exec(sql);
        return out;
    }
    auto cols = column_names(e, e.dialect().columns_of_table_sql("background_updates"));
    copy_columns(cols, "table background_updates");
    // An old Synapse schema without these columns: add them (Synapse's defaults).
    if (!has(cols, "depends_on")) e.exec("ALTER TABLE background_updates ADD COLUMN depends_on TEXT");
    if (!has(cols, "ordering")) e.exec("ALTER TABLE background_updates ADD COLUMN ordering INT NOT NULL DEFAULT 0");
    return out;
}

}  // namespace

AdoptionResult adopt_queue(Engine& engine) {
    return engine.dialect().is_postgres() ? pg_adopt(engine) : sqlite_adopt(engine);
}

void set_queue_aside_for_snapshot(Engine& e) {
    if (e.dialect().is_postgres()) {
        // Our view would make the snapshot's CREATE TABLE fail; it comes back after.
        auto rel = pg_resolved(e, "background_updates");
        if (!rel.empty() && rel[0][1].as_text() != "bgupdate" && rel[0][2].as_text() == "v")
            e.exec("DROP VIEW " + e.dialect().ident(rel[0][1].as_text()) + ".background_updates");
        return;
    }
    if (sqlite_table_exists(e, kSetAside))
        bad_input(std::string("table ") + kSetAside + " exists: an earlier snapshot did not finish; "
                  "move its rows into background_updates and drop it");
    if (sqlite_table_exists(e, "background_updates"))
        e.exec(std::string("ALTER TABLE background_updates RENAME TO ") + kSetAside);
}

AdoptionResult take_queue_back_after_snapshot(Engine& e) {
    if (e.dialect().is_postgres()) return pg_adopt_one(e, kShared[0]);
    AdoptionResult out;
    if (!sqlite_table_exists(e, kSetAside)) return sqlite_adopt(e);
    if (!sqlite_table_exists(e, "background_updates")) {
        e.exec(std::string("ALTER TABLE ") + kSetAside + " RENAME TO background_updates");
        return sqlite_adopt(e);
    }
    // The snapshot made its own table: it becomes the queue, with our rows in it.
    out = sqlite_adopt(e);
    std::string cols = copy_columns(column_names(e, e.dialect().columns_of_table_sql(kSetAside)), kSetAside);
    out.rows_moved = e.exec("INSERT OR IGNORE INTO background_updates (" + cols + ") SELECT " + cols + " FROM " +
                            kSetAside);
    e.exec(std::string("DROP TABLE ") + kSetAside);
    out.adopted_table = true;
    return out;
}

}  // namespace bgupdate
