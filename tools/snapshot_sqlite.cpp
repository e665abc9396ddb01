#include <algorithm>
#include <map>
#include <set>

#include "snapshot.h"
#include "sql_quoting.h"

namespace bgtool {
namespace {

struct Object {
    std::string type, name, table, sql;
};

}  // namespace

Snapshot sqlite_snapshot(Connection& db, const SnapshotOptions& options) {
    Snapshot snap;
    snap.made_by = "sqlite_schema";
    std::set<std::string> shadow, virtual_tables, without_rowid;
    for (auto& r : db.query("SELECT name, type, wr FROM pragma_table_list WHERE schema = 'main'").rows) {
        if (r[1] && *r[1] == "shadow") shadow.insert(*r[0]);
        if (r[1] && *r[1] == "virtual") virtual_tables.insert(*r[0]);
        if (r[2] && *r[2] == "1") without_rowid.insert(*r[0]);
    }
    std::vector<Object> tables, views;
    std::map<std::string, std::vector<Object>> on_table;  // indexes and triggers of a table or view
    for (auto& r : db.query("SELECT type, name, tbl_name, sql FROM sqlite_schema WHERE sql IS NOT NULL").rows) {
        Object o{*r[0], *r[1], *r[2], *r[3]};
        if (is_extension_or_sqlite_table(o.table) || is_extension_or_sqlite_table(o.name) || shadow.count(o.table)) continue;
        if (o.type == "table") tables.push_back(o);
        else if (o.type == "view") views.push_back(o);
        else on_table[o.table].push_back(o);
    }
    auto by_name = [](const Object& a, const Object& b) { return a.name < b.name; };
    auto by_kind_then_name = [](const Object& a, const Object& b) {
        return a.type != b.type ? a.type < b.type : a.name < b.name;  // indexes before triggers
    };
    std::sort(tables.begin(), tables.end(), by_name);
    std::sort(views.begin(), views.end(), by_name);
    std::string text;
    auto emit = [&](const Object& o) {
        text += o.sql + ";\n";
        ++snap.statements;
        auto& deps = on_table[o.name];
        std::sort(deps.begin(), deps.end(), by_kind_then_name);
        for (auto& d : deps) {
            text += d.sql + ";\n";
            ++snap.statements;
        }
    };
    for (auto& t : tables) {
        emit(t);
        ++snap.tables;
    }
    for (auto& v : views) emit(v);

    // Rows, in key order, as literals SQLite reads back exactly (reals with 17 digits).
    for (auto& t : tables) {
        std::string q = quote_ident(t.name);
        if (virtual_tables.count(t.name)) {
            if (!db.query("SELECT 1 FROM " + q + " LIMIT 1").rows.empty())
                snap.warnings.push_back("the rows of virtual table " + t.name + " are not in the snapshot");
            continue;
        }
        refuse_application_data(db, t.name,
                                "SELECT count(*) FROM (SELECT 1 FROM " + q + " LIMIT " +
                                    std::to_string(options.max_table_rows + 1) + ")",
                                options.max_table_rows);
        std::vector<std::string> columns, keys;
        for (auto& r : db.query("SELECT name, pk FROM pragma_table_xinfo(" + quote_text(t.name) +
                                ") WHERE hidden = 0 ORDER BY cid").rows) {
            columns.push_back(*r[0]);
            if (r[1] && *r[1] != "0") keys.push_back(*r[0]);
        }
        if (columns.empty()) continue;
        std::string names, values, order;
        for (auto& c : columns) {
            names += (names.empty() ? "" : ", ") + quote_ident(c);
            std::string x = quote_ident(c);
            values += std::string(values.empty() ? "" : " || ', ' || ") + "CASE typeof(" + x +
                      ") WHEN 'real' THEN printf('%!.17g', " + x + ") ELSE quote(" + x + ") END";
        }
        if (without_rowid.count(t.name)) {
            for (auto& k : keys) order += (order.empty() ? "" : ", ") + quote_ident(k);
        } else {
            order = "rowid";
        }
        Result rows = db.query("SELECT " + quote_text("INSERT INTO " + q + " (" + names + ") VALUES (") + " || " +
                               values + " || ');' FROM " + q + " ORDER BY " + order);
        for (auto& r : rows.rows) {
            text += r[0].value_or("") + "\n";
            ++snap.statements;
            ++snap.rows;
        }
    }
    snap.text = text;
    return snap;
}

}  // namespace bgtool
