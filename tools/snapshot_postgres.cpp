#include <regex>
#include <sstream>

#include "errors.h"
#include "pg_dump.h"
#include "snapshot.h"
#include "statement_splitter.h"

namespace bgtool {
namespace {

std::string quote_ident(const std::string& s) {
    std::string out = "\"";
    for (char c : s) out += c == '"' ? std::string("\"\"") : std::string(1, c);
    return out + "\"";
}

bool starts_with(const std::string& s, const char* prefix) { return s.rfind(prefix, 0) == 0; }

// Synapse's cleanup of pg_dump output, plus what a file run by
// apply_schema_snapshot must not hold (psql meta-commands, bgupdate itself).
std::string clean(const std::string& dump, const std::string& schema) {
    std::istringstream in(dump);
    std::ostringstream out;
    const bool plain_schema = std::regex_match(schema, std::regex("[a-z_][a-z0-9_]*"));
    const std::regex qualified(plain_schema ? "(^|[^A-Za-z0-9_\"$])" + schema + "\\." : "^\\b$");
    std::string line;
    while (std::getline(in, line)) {
        if (line.empty() || starts_with(line, "--") || starts_with(line, "SET ") || starts_with(line, "\\") ||
            starts_with(line, "SELECT pg_catalog.set_config('search_path'") ||
            starts_with(line, "CREATE EXTENSION IF NOT EXISTS bgupdate ") ||
            starts_with(line, "COMMENT ON EXTENSION bgupdate "))
            continue;
        out << (plain_schema ? std::regex_replace(line, qualified, "$1") : line) << '\n';
    }
    return out.str();
}

}  // namespace

void refuse_application_data(Connection& db, const std::string& table, const std::string& count_sql, int64_t max_rows) {
    int64_t n = std::stoll(db.query(count_sql).rows.at(0).at(0).value_or("0"));
    if (n > max_rows)
        bgupdate::bad_input("table " + table + " holds more than " + std::to_string(max_rows) +
                            " rows: a snapshot carries only the rows the schema files insert; make it from a freshly "
                            "migrated database (or raise --max-table-rows)");
}

Snapshot postgres_snapshot(Connection& db, const std::string& conninfo, const SnapshotOptions& options) {
    Snapshot snap;
    PgDump pg_dump = find_pg_dump(db, options.pg_dump);
    snap.made_by = "pg_dump " + std::to_string(pg_dump.major) + " (" + pg_dump.path + ")";
    std::string schema = db.query("SELECT current_schema()").rows.at(0).at(0).value_or("public");

    // Not the extension's objects, nor the views migrate makes over its tables
    // (migrate makes them again in the new database).
    std::vector<std::string> excluded{"--exclude-schema=bgupdate"};
    Result views = db.query(
        "SELECT n.nspname, c.relname FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace"
        " WHERE c.relkind = 'v' AND n.nspname <> 'bgupdate' AND c.relname IN"
        " ('background_updates', 'schema_version', 'schema_compat_version', 'applied_schema_deltas')"
        " AND EXISTS (SELECT 1 FROM pg_catalog.pg_depend d JOIN pg_catalog.pg_rewrite w ON w.oid = d.objid"
        "             JOIN pg_catalog.pg_class t ON t.oid = d.refobjid"
        "             WHERE w.ev_class = c.oid AND t.relnamespace = 'bgupdate'::regnamespace)");
    for (auto& v : views.rows) excluded.push_back("--exclude-table=" + quote_ident(*v[0]) + "." + quote_ident(*v[1]));

    Result tables = db.query(
        "SELECT quote_ident(n.nspname) || '.' || quote_ident(c.relname) FROM pg_catalog.pg_class c"
        " JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace"
        " WHERE c.relkind IN ('r', 'p') AND n.nspname NOT IN ('pg_catalog', 'information_schema', 'bgupdate')"
        " AND n.nspname NOT LIKE 'pg\\_%'"
        " AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_depend d WHERE d.classid = 'pg_class'::regclass"
        "                 AND d.objid = c.oid AND d.deptype = 'e') ORDER BY 1");
    for (auto& t : tables.rows)
        refuse_application_data(db, *t[0],
                                "SELECT count(*) FROM (SELECT 1 FROM " + *t[0] + " LIMIT " +
                                    std::to_string(options.max_table_rows + 1) + ") s",
                                options.max_table_rows);

    std::vector<std::string> common{"--no-owner", "--no-acl", "--no-tablespaces"};
    common.insert(common.end(), excluded.begin(), excluded.end());
    std::vector<std::string> schema_only{"--schema-only"}, data_only{"--data-only", "--inserts"};
    schema_only.insert(schema_only.end(), common.begin(), common.end());
    data_only.insert(data_only.end(), common.begin(), common.end());
    std::string ddl = clean(run_pg_dump(pg_dump, conninfo, schema_only), schema);
    std::string rows = clean(run_pg_dump(pg_dump, conninfo, data_only), schema);
    snap.text = ddl + rows;
    for (auto& s : bgupdate::split_statements(snap.text, bgupdate::Dialect::Kind::Postgres)) {
        ++snap.statements;
        if (starts_with(s, "CREATE TABLE ") || starts_with(s, "CREATE UNLOGGED TABLE ")) ++snap.tables;
        if (starts_with(s, "INSERT INTO ")) ++snap.rows;
    }
    return snap;
}

}  // namespace bgtool
