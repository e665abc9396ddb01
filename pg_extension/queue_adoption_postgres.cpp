#include "queue_adoption_postgres.h"

#include <string>
#include <vector>

#include "dialect.h"
#include "errors.h"

namespace bgupdate_pg {

using namespace bgupdate;

namespace {

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

std::vector<std::string> column_names(Engine& e, const std::string& catalog_sql) {
    std::vector<std::string> out;
    for (auto& r : e.query(catalog_sql)) out.push_back(r[0].as_text());
    return out;
}

// The relation an unqualified name means here: oid, schema, relkind.
Rows resolved(Engine& e, const std::string& name) {
    return e.query(
        "SELECT c.oid::bigint, n.nspname::text, c.relkind::text FROM pg_catalog.pg_class c"
        " JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace"
        " WHERE c.oid = pg_catalog.to_regclass(" + e.dialect().literal(name) + ")");
}

std::string view_columns(const SharedTable& t) {
    return t.columns ? t.columns : "update_name, progress_json, depends_on, ordering";
}

std::string view_sql(const Dialect& d, const std::string& schema, const SharedTable& t) {
    // security_invoker: the table's row-level security applies to whoever
    // writes through the view, not to the view's owner.
    return "CREATE VIEW " + d.ident(schema) + "." + t.name + " WITH (security_invoker = true) AS SELECT " +
           view_columns(t) + " FROM bgupdate." + t.name;
}

AdoptionResult adopt_one(Engine& e, const SharedTable& t) {
    const Dialect& d = e.dialect();
    AdoptionResult out;
    auto rel = resolved(e, t.name);
    if (rel.empty()) {
        // None yet: provide the view in the first schema of the search_path,
        // when there is one the caller may create in.
        auto where = e.query("SELECT s::text, pg_catalog.has_schema_privilege(s, 'CREATE')"
                             " FROM pg_catalog.current_schema() s");
        if (where.empty() || where[0][0].is_null() || where[0][0].as_text() == "bgupdate") return out;
        std::string ok = where[0][1].as_text();
        if (ok != "t" && ok != "true" && ok != "1") return out;
        e.exec(view_sql(d, where[0][0].as_text(), t));
        out.created_view = true;
        return out;
    }
    std::string schema = rel[0][1].as_text(), kind = rel[0][2].as_text();
    if (schema == "bgupdate" || kind == "v") return out;  // ours, or a view over ours already
    std::string qualified = d.ident(schema) + "." + t.name;
    if (kind != "r" && kind != "p")
        bad_input("'" + qualified + "' is neither a table nor a view; bgupdate cannot adopt it");
    std::string cols = t.columns ? t.columns
                                 : synapse_queue_columns(column_names(e, "SELECT attname::text FROM pg_catalog.pg_attribute"
                                                                         " WHERE attrelid = " + rel[0][0].as_text() +
                                                                         " AND attnum > 0 AND NOT attisdropped"),
                                                         "table " + qualified);
    // Rows bgupdate already has win (a singleton version row, an update already queued).
    out.rows_moved = e.exec("INSERT INTO bgupdate." + std::string(t.name) + " (" + cols + ") SELECT " + cols +
                            " FROM " + qualified + " ON CONFLICT DO NOTHING");
    e.exec("DROP TABLE " + qualified);
    e.exec(view_sql(d, schema, t));
    out.adopted_table = out.created_view = true;
    return out;
}

}  // namespace

AdoptionResult ViewQueueAdoption::adopt_queue() {
    AdoptionResult queue = adopt_one(engine_, kShared[0]);
    for (size_t i = 1; i < sizeof kShared / sizeof kShared[0]; ++i)
        if (adopt_one(engine_, kShared[i]).adopted_table) ++queue.schema_tables_adopted;
    return queue;
}

void ViewQueueAdoption::set_queue_aside_for_snapshot() {
    // Our view would make the snapshot's CREATE TABLE fail; it comes back after.
    auto rel = resolved(engine_, "background_updates");
    if (!rel.empty() && rel[0][1].as_text() != "bgupdate" && rel[0][2].as_text() == "v")
        engine_.exec("DROP VIEW " + engine_.dialect().ident(rel[0][1].as_text()) + ".background_updates");
}

AdoptionResult ViewQueueAdoption::take_queue_back_after_snapshot() { return adopt_one(engine_, kShared[0]); }

}  // namespace bgupdate_pg
