#include <cctype>
#include <regex>
#include <sstream>

#include "errors.h"
#include "sql_quoting.h"
#include "pg_dump.h"
#include "snapshot.h"
#include "statement_splitter.h"

namespace bgtool {
namespace {

bool starts_with(const std::string& s, const char* prefix) { return s.rfind(prefix, 0) == 0; }

// Where a line of pg_dump output starts: outside any quote, or inside a
// 'string' or a $tag$ body (a function's), whose lines must stay as they are.
struct QuoteState {
    bool in_string = false;
    std::string dollar_tag;  // non-empty: inside $tag$ … $tag$
    bool outside() const { return !in_string && dollar_tag.empty(); }
    // Moves the state over one line; `plain` gets the parts outside quotes
    // marked so the caller can rewrite only those (see clean()).
    void scan(const std::string& line, std::vector<std::pair<size_t, size_t>>* plain) {
        size_t i = 0, plain_from = 0;
        auto close_plain = [&](size_t to) {
            if (plain && to > plain_from) plain->push_back({plain_from, to});
        };
        while (i < line.size()) {
            if (in_string) {
                if (line[i] == '\'') in_string = false, plain_from = i + 1;
                ++i;
            } else if (!dollar_tag.empty()) {
                if (line.compare(i, dollar_tag.size(), dollar_tag) == 0) {
                    i += dollar_tag.size();
                    dollar_tag.clear();
                    plain_from = i;
                } else {
                    ++i;
                }
            } else if (line[i] == '\'') {
                close_plain(i);
                in_string = true;
                ++i;
            } else if (line.compare(i, 2, "--") == 0) {
                break;  // a comment to the end of the line
            } else if (line[i] == '$') {
                size_t j = i + 1;
                while (j < line.size() && (std::isalnum(static_cast<unsigned char>(line[j])) || line[j] == '_')) ++j;
                if (j < line.size() && line[j] == '$' && !(j > i + 1 && std::isdigit(static_cast<unsigned char>(line[i + 1])))) {
                    close_plain(i);
                    dollar_tag = line.substr(i, j - i + 1);
                    i = j + 1;
                } else {
                    i = j;
                }
            } else {
                ++i;
            }
        }
        if (outside()) close_plain(line.size());
    }
};

// Synapse's cleanup of pg_dump output (blank lines, comments, SET lines, the
// search_path reset, the schema name), plus what a file run by
// apply_schema_snapshot must not hold (psql meta-commands, bgupdate itself);
// never inside a string or a function body, which are kept exactly.
std::string clean(const std::string& dump, const std::string& schema) {
    std::istringstream in(dump);
    std::ostringstream out;
    const bool plain_schema = std::regex_match(schema, std::regex("[a-z_][a-z0-9_]*"));
    const std::regex qualified("(^|[^A-Za-z0-9_\"$])" + (plain_schema ? schema : std::string("x^")) + "\\.");
    QuoteState state;
    std::string line;
    while (std::getline(in, line)) {
        bool starts_outside = state.outside();
        std::vector<std::pair<size_t, size_t>> plain;
        state.scan(line, &plain);
        if (!starts_outside) {
            out << line << '\n';
            continue;
        }
        if (line.empty() || starts_with(line, "--") || starts_with(line, "SET ") || starts_with(line, "\\") ||
            starts_with(line, "SELECT pg_catalog.set_config('search_path'") ||
            starts_with(line, "CREATE EXTENSION IF NOT EXISTS bgupdate ") ||
            starts_with(line, "COMMENT ON EXTENSION bgupdate "))
            continue;
        if (!plain_schema) {
            out << line << '\n';
            continue;
        }
        // A sequence named in setval's string: the one string whose schema name goes.
        const std::string setval = "SELECT pg_catalog.setval('" + schema + ".";
        if (starts_with(line, setval.c_str())) {
            out << "SELECT pg_catalog.setval('" << line.substr(setval.size()) << '\n';
            continue;
        }
        // The schema name goes only where it qualifies a name, outside quotes.
        std::string rewritten;
        size_t done = 0;
        for (auto [from, to] : plain) {
            rewritten += line.substr(done, from - done);
            rewritten += std::regex_replace(line.substr(from, to - from), qualified, "$1");
            done = to;
        }
        rewritten += line.substr(done);
        out << rewritten << '\n';
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
