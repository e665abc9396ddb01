#include "port_plan.h"

#include <fmt/core.h>
#include <fmt/format.h>

#include <cctype>
#include <set>

#include "db_mapping.h"
#include "exit_codes.h"

namespace bgtool {
namespace {

std::string lower(std::string s) {
    for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return s;
}

// Target text of a key column back into a value SQLite compares equal.
bgupdate::SourceValue source_value_of(const std::optional<std::string>& text, bgupdate::TargetType type) {
    if (!text) return bgupdate::SourceValue::null();
    switch (type) {
        case bgupdate::TargetType::Boolean: return bgupdate::SourceValue::of(*text == "true" ? 1 : 0);
        case bgupdate::TargetType::Integer: return bgupdate::SourceValue::of(std::stoll(*text));
        case bgupdate::TargetType::Float: return bgupdate::SourceValue::of_real(std::stod(*text));
        default: return bgupdate::SourceValue::text(*text);
    }
}

// The rows migrate put into a fresh database (stream positions and the like)
// are replaced by the source's; anything else means the target holds data.
std::optional<std::string> target_holds_data(PortSource& source, PortTarget& target, const TablePlan& t) {
    const int64_t limit = 1000;
    int64_t n = target.count(t.target);
    if (n == 0) return std::nullopt;
    if (n > limit)
        return fmt::format("table {} already holds {} rows: port into a database that was just migrated", t.target.name, n);
    std::vector<std::string> source_columns;
    std::vector<bgupdate::TargetType> types;
    for (auto& k : t.target.key) {
        const TargetColumn* col = t.target.column(k);
        std::string src;
        for (auto& c : t.source.columns)
            if (lower(c) == lower(k)) src = c;
        if (src.empty() || !col)
            return fmt::format("table {} holds {} row(s) whose key column {} the source does not have", t.target.name, n, k);
        source_columns.push_back(src);
        types.push_back(col->type);
    }
    for (auto& row : target.key_rows(t.target, limit)) {
        SourceRow values;
        for (size_t i = 0; i < row.size(); ++i) values.push_back(source_value_of(row[i], types[i]));
        if (!source.has_row(t.source.name, source_columns, values)) {
            std::vector<std::string> shown;
            for (size_t i = 0; i < row.size(); ++i) shown.push_back(t.target.key[i] + "=" + row[i].value_or("NULL"));
            return fmt::format("table {} holds a row the source does not have ({}): port into a database that was "
                               "just migrated, not one with data", t.target.name, fmt::join(shown, ", "));
        }
    }
    return std::nullopt;
}

// SEQ=TABLE.COLUMN[,TABLE.COLUMN…] -> SEQ, [(TABLE, COLUMN)…]
std::pair<std::string, std::vector<std::pair<std::string, std::string>>> parse_sequence_option(const std::string& s) {
    const std::string usage = "--sequence takes SEQUENCE=TABLE.COLUMN[,TABLE.COLUMN…]: " + s;
    auto eq = s.find('=');
    if (eq == std::string::npos || eq == 0) throw UsageError(usage);
    std::vector<std::pair<std::string, std::string>> columns;
    std::string rest = s.substr(eq + 1);
    size_t start = 0;
    for (;;) {
        size_t comma = rest.find(',', start);
        std::string part = rest.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
        auto dot = part.find('.');
        if (dot == std::string::npos || dot == 0 || dot + 1 == part.size()) throw UsageError(usage);
        columns.push_back({part.substr(0, dot), part.substr(dot + 1)});
        if (comma == std::string::npos) break;
        start = comma + 1;
    }
    return {s.substr(0, eq), columns};
}

}  // namespace

PortPlan plan_port(PortSource& source, PortTarget& target, const std::vector<std::string>& sequence_options,
                   bool first_run) {
    PortPlan plan;
    auto target_tables = target.tables();
    for (auto& st : source.tables()) {
        if (!st.not_copied.empty()) {
            plan.notes.push_back(st.name + " not copied: " + st.not_copied);
            continue;
        }
        int64_t rows = source.count(st.name);
        auto it = target_tables.find(lower(st.name));
        if (it == target_tables.end()) {
            if (rows > 0)
                throw PortRefusal(kIncompatible, fmt::format("table {} ({} rows) has no counterpart in the target",
                                                             st.name, rows));
            plan.notes.push_back(st.name + " not copied: not in the target, and empty");
            continue;
        }
        TablePlan t;
        t.source = st;
        t.target = it->second;
        t.source_rows = rows;
        std::set<std::string> covered;
        for (size_t i = 0; i < st.columns.size(); ++i) {
            const TargetColumn* col = t.target.column(st.columns[i]);
            if (!col) {
                if (rows > 0)
                    throw PortRefusal(kIncompatible, fmt::format("column {}.{} has no counterpart in the target",
                                                                 st.name, st.columns[i]));
                continue;
            }
            covered.insert(col->name);
            if (col->generated) continue;  // computed by the target
            t.source_index.push_back(i);
            t.target_columns.push_back(col->name);
            t.types.push_back(col->type);
        }
        for (auto& col : t.target.columns)
            if (col.required && !covered.count(col.name) && rows > 0)
                throw PortRefusal(kIncompatible, fmt::format("column {}.{} is NOT NULL in the target and the source "
                                                             "has no such column", t.target.name, col.name));
        if (st.rowid_without_alias && rows > 0)
            plan.notes.push_back(st.name + " is copied in rowid order (it has no INTEGER PRIMARY KEY or NOT NULL "
                                           "unique key): do not VACUUM the source before the port has finished");
        plan.tables.push_back(std::move(t));
    }
    for (auto& option : sequence_options) {
        auto [seq, cols] = parse_sequence_option(option);
        NamedSequence n;
        try {
            n.sequence = target.sequence_named(seq);
        } catch (const DbError& e) {
            throw UsageError("--sequence: " + std::string(e.what()));
        }
        for (auto& [table, column] : cols) {
            auto it = target_tables.find(lower(table));
            if (it == target_tables.end() || !it->second.column(column))
                throw UsageError("--sequence " + seq + ": no column " + table + "." + column + " in the target");
            n.columns.push_back({it->second.qualified, it->second.column(column)->name});
            n.why += (n.why.empty() ? "" : ", ") + table + "." + column;
        }
        plan.sequences.push_back(n);
    }
    if (first_run)
        for (auto& t : plan.tables)
            if (auto why = target_holds_data(source, target, t))
                throw PortRefusal(kIncompatible, "the target is not empty: " + *why);
    return plan;
}

std::optional<std::string> cannot_finish_here(Connection& db) {
    std::map<std::string, std::string> kinds;
    for (auto& r : db.query("SELECT update_name, kind FROM " + std::string(db.is_postgres() ? "bgupdate.update_registry"
                                                                                            : "bgupdate_registry")).rows)
        kinds[*r[0]] = r[1].value_or("");
    bool worker = db.is_postgres() &&
                  Connection::truthy(db.query("SELECT EXISTS (SELECT 1 FROM pg_stat_activity"
                                              " WHERE backend_type = 'bgupdate launcher')").rows.at(0).at(0));
    std::vector<std::string> stuck;
    for (auto& r : db.query("SELECT update_name FROM " + db.schema_table("background_updates") + " ORDER BY 1").rows) {
        auto k = kinds.find(*r[0]);
        if (k == kinds.end())
            stuck.push_back(*r[0] + " (no handler is registered: the application registers it when it starts)");
        else if (k->second == "application")
            stuck.push_back(*r[0] + " (its batches are run by the application itself)");
        else if (k->second == "generic" && !db.is_postgres())
            stuck.push_back(*r[0] + " (its handler is a function of the application's own connection)");
        else if (k->second == "index" && db.is_postgres() && !worker)
            stuck.push_back(*r[0] + " (an index built concurrently, which needs the bgupdate worker: "
                                    "shared_preload_libraries = 'bgupdate')");
    }
    if (stuck.empty()) return std::nullopt;
    return fmt::format("{}: let the application finish them against this database, or end those it does not need "
                       "with end_update()", fmt::join(stuck, ", "));
}

}  // namespace bgtool
