// The SQL surface table (common/sql_surface.h) against what the engines
// really declare: the PostgreSQL extension's scripts (each function's final
// signature after every upgrade script, and the status view's columns) and
// the loaded SQLite extension (its functions and the status table's
// columns). A change to one side alone fails here.
#include <gtest/gtest.h>
#include <sqlite3.h>

#include <algorithm>
#include <cctype>
#include <fstream>
#include <map>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "sql_surface.h"
#include "status.h"

namespace sql = bgupdate::sql;

namespace {

const std::string kRoot = BGUPDATE_SOURCE_ROOT;
// In the order CREATE EXTENSION runs them.
const char* const kScripts[] = {"bgupdate--1.0.sql", "bgupdate--1.0--1.1.sql", "bgupdate--1.1--1.2.sql"};

std::string read_file(const std::string& path) {
    std::ifstream in(path);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

std::string squeeze(const std::string& s) {
    std::string out;
    for (char c : s) {
        if (std::isspace(static_cast<unsigned char>(c))) {
            if (!out.empty() && out.back() != ' ') out += ' ';
        } else {
            out += c;
        }
    }
    while (!out.empty() && out.back() == ' ') out.pop_back();
    return out;
}

std::string without_comments(const std::string& text) {
    std::string out;
    std::istringstream in(text);
    for (std::string line; std::getline(in, line);) {
        auto pos = line.find("--");
        out += (pos == std::string::npos ? line : line.substr(0, pos)) + "\n";
    }
    return out;
}

// Splits at the commas outside parentheses and quotes.
std::vector<std::string> split_top_level(const std::string& s) {
    std::vector<std::string> out;
    std::string cur;
    int depth = 0;
    bool quoted = false;
    for (char c : s) {
        if (c == '\'') quoted = !quoted;
        if (!quoted && c == '(') ++depth;
        if (!quoted && c == ')') --depth;
        if (!quoted && depth == 0 && c == ',') {
            out.push_back(squeeze(cur));
            cur.clear();
        } else {
            cur += c;
        }
    }
    if (!squeeze(cur).empty()) out.push_back(squeeze(cur));
    return out;
}

struct Param {
    bool out = false;
    std::string name, type, dflt;
};

Param parse_param(const std::string& text) {
    Param p;
    std::string s = text;
    if (s.rfind("OUT ", 0) == 0) {
        p.out = true;
        s = s.substr(4);
    }
    auto d = s.find(" DEFAULT ");
    if (d != std::string::npos) {
        p.dflt = s.substr(d + 9);
        s = s.substr(0, d);
    }
    auto sp = s.find(' ');
    p.name = s.substr(0, sp);
    if (p.name.size() > 1 && p.name.front() == '"') p.name = p.name.substr(1, p.name.size() - 2);
    p.type = sp == std::string::npos ? "" : s.substr(sp + 1);
    return p;
}

struct Declared {
    std::string kind;  // FUNCTION or PROCEDURE
    std::string name;
    std::vector<Param> params;
    std::string returns;  // "" for a procedure
};

std::string in_types(const std::vector<Param>& params) {
    std::string out;
    for (auto& p : params)
        if (!p.out) out += (out.empty() ? "" : ", ") + p.type;
    return out;
}

// What the scripts leave behind, by signature ("name(types)").
std::map<std::string, Declared> declared_by_scripts() {
    std::map<std::string, Declared> all;
    static const std::regex create(R"(CREATE\s+(FUNCTION|PROCEDURE)\s+bgupdate\.(\w+)\s*\()");
    static const std::regex drop(R"(DROP\s+(FUNCTION|PROCEDURE)\s+bgupdate\.(\w+)\s*\(([^)]*)\))");
    static const std::regex returns(R"(^\s*RETURNS\s+(.*?)\s+(LANGUAGE|STABLE|IMMUTABLE|VOLATILE|SECURITY|AS)\b)");
    for (const char* script : kScripts) {
        std::string text = without_comments(read_file(kRoot + "/pg_extension/" + script));
        EXPECT_FALSE(text.empty()) << "cannot read pg_extension/" << script;
        // Statements in order: creations and drops.
        std::vector<std::pair<size_t, std::smatch>> events;
        for (std::sregex_iterator it(text.begin(), text.end(), create), end; it != end; ++it)
            events.emplace_back(it->position(), *it);
        for (std::sregex_iterator it(text.begin(), text.end(), drop), end; it != end; ++it)
            events.emplace_back(it->position(), *it);
        std::sort(events.begin(), events.end(), [](auto& a, auto& b) { return a.first < b.first; });
        for (auto& [pos, m] : events) {
            if (m.str(0).rfind("DROP", 0) == 0) {
                std::vector<std::string> types = split_top_level(m.str(3));
                std::string key = m.str(2) + "(";
                for (size_t i = 0; i < types.size(); ++i) key += (i ? ", " : "") + types[i];
                EXPECT_EQ(all.erase(key + ")"), 1u) << script << " drops " << key << ") that does not exist";
                continue;
            }
            Declared d{m.str(1), m.str(2), {}, ""};
            size_t open = pos + m.length(0), i = open;
            int depth = 1;
            bool quoted = false;
            for (; i < text.size() && depth > 0; ++i) {
                if (text[i] == '\'') quoted = !quoted;
                if (!quoted && text[i] == '(') ++depth;
                if (!quoted && text[i] == ')') --depth;
            }
            for (auto& p : split_top_level(text.substr(open, i - 1 - open))) d.params.push_back(parse_param(p));
            std::smatch r;
            std::string rest = text.substr(i, 400);
            if (d.kind == "FUNCTION" && std::regex_search(rest, r, returns)) d.returns = squeeze(r.str(1));
            all[d.name + "(" + in_types(d.params) + ")"] = d;
        }
    }
    return all;
}

const char* pg_type(sql::Type t) {
    switch (t) {
        case sql::Type::Text:
        case sql::Type::FunctionName: return "text";
        case sql::Type::BigInt: return "bigint";
        case sql::Type::Boolean: return "boolean";
        case sql::Type::Json: return "jsonb";
        case sql::Type::TextArray: return "text[]";
        case sql::Type::Real: return "double precision";
        case sql::Type::Timestamp: return "timestamptz";
        case sql::Type::None: return "void";
        case sql::Type::Procedure: return "";
    }
    return "?";
}

std::string show(const Declared& d) {
    std::string out = d.kind + " " + d.name + "(";
    bool first = true;
    for (auto& p : d.params) {
        if (p.out) continue;
        out += (first ? "" : ", ") + p.name + " " + p.type + (p.dflt.empty() ? "" : " DEFAULT " + p.dflt);
        first = false;
    }
    out += ")";
    if (!d.returns.empty()) out += " RETURNS " + d.returns;
    return out;
}

// What the table says PostgreSQL declares: each function's signature, and
// one without each argument a second signature leaves out.
std::set<std::string> expected_by_table() {
    std::set<std::string> out;
    for (const sql::Function& f : sql::kFunctions) {
        if (!f.on(sql::kPostgres)) continue;
        Declared d{f.pg_result == sql::Type::Procedure ? "PROCEDURE" : "FUNCTION", f.name, {}, ""};
        if (f.pg_result != sql::Type::Procedure) d.returns = pg_type(f.pg_result);
        for (int i = 0; i < f.arg_count(); ++i) {
            const sql::Arg& a = f.args[i];
            d.params.push_back(Param{false, a.name, pg_type(a.type), a.dflt && a.omit != sql::Omit::Overload ? a.dflt : ""});
        }
        out.insert(show(d));
        for (int n = f.arg_count(); n > 0 && f.args[n - 1].omit == sql::Omit::Overload; --n) {
            d.params.pop_back();
            out.insert(show(d));
        }
        // A function name may also be given as regprocedure.
        for (size_t i = 0; i < d.params.size(); ++i) {
            if (f.args[i].type != sql::Type::FunctionName) continue;
            Declared by_oid = d;
            by_oid.params[i].type = "regprocedure";
            out.insert(show(by_oid));
        }
    }
    return out;
}

std::string listed(const std::set<std::string>& items) {
    std::string out;
    for (auto& s : items) out += "\n  " + s;
    return out;
}

const char* sqlite_type(sql::Type t) {
    switch (t) {
        case sql::Type::BigInt:
        case sql::Type::Boolean: return "INTEGER";
        case sql::Type::Real: return "REAL";
        default: return "TEXT";
    }
}

struct Db {
    sqlite3* db = nullptr;
    ~Db() {
        if (db) sqlite3_close(db);
    }
    std::vector<std::vector<std::string>> rows(const std::string& query) {
        std::vector<std::vector<std::string>> out;
        sqlite3_stmt* st = nullptr;
        EXPECT_EQ(sqlite3_prepare_v2(db, query.c_str(), -1, &st, nullptr), SQLITE_OK) << sqlite3_errmsg(db);
        while (st && sqlite3_step(st) == SQLITE_ROW) {
            std::vector<std::string> row;
            for (int i = 0; i < sqlite3_column_count(st); ++i) {
                auto* t = sqlite3_column_text(st, i);
                row.push_back(t ? reinterpret_cast<const char*>(t) : "");
            }
            out.push_back(row);
        }
        sqlite3_finalize(st);
        return out;
    }
    std::string error_of(const std::string& query) {
        char* err = nullptr;
        int rc = sqlite3_exec(db, query.c_str(), nullptr, nullptr, &err);
        std::string out = rc == SQLITE_OK ? "" : (err ? err : "error");
        sqlite3_free(err);
        return out;
    }
};

}  // namespace

TEST(SqlSurface, PostgresScriptsDeclareTheTablesFunctions) {
    std::set<std::string> in_scripts;
    for (auto& [key, d] : declared_by_scripts())
        if (d.name[0] != '_') in_scripts.insert(show(d));
    std::set<std::string> in_table = expected_by_table(), only_scripts, only_table;
    std::set_difference(in_scripts.begin(), in_scripts.end(), in_table.begin(), in_table.end(),
                        std::inserter(only_scripts, only_scripts.end()));
    std::set_difference(in_table.begin(), in_table.end(), in_scripts.begin(), in_scripts.end(),
                        std::inserter(only_table, only_table.end()));
    EXPECT_TRUE(only_scripts.empty()) << "declared by the extension scripts, not by sql_surface.h:" << listed(only_scripts);
    EXPECT_TRUE(only_table.empty()) << "declared by sql_surface.h, not by the extension scripts:" << listed(only_table);
    EXPECT_GT(in_scripts.size(), 30u);
}

TEST(SqlSurface, PostgresStatusViewHasTheTablesColumns) {
    auto all = declared_by_scripts();
    ASSERT_TRUE(all.count("_status()")) << "the scripts leave no bgupdate._status()";
    std::vector<std::string> in_scripts, in_table;
    for (auto& p : all["_status()"].params)
        if (p.out) in_scripts.push_back(p.name + " " + p.type);
    for (const sql::Column& c : sql::kStatusColumns) in_table.push_back(std::string(c.name) + " " + pg_type(c.type));
    EXPECT_EQ(in_scripts, in_table);
}

// Every status column has a field of StatusRow behind it.
TEST(SqlSurface, EveryStatusColumnHasACell) {
    bgupdate::StatusRow row;
    row.update_name = "u";
    for (int i = 0; i < sql::kStatusColumnCount; ++i)
        EXPECT_EQ(bgupdate::status_cell(row, i).type, sql::kStatusColumns[i].type) << sql::kStatusColumns[i].name;
    EXPECT_EQ(*bgupdate::status_cell(row, sql::status_column("update_name")).text, "u");
}

TEST(SqlSurface, SqliteExtensionRegistersTheTablesFunctions) {
    const std::string so = kRoot + "/sqlite_extension/bgupdate.so";
    ASSERT_TRUE(std::ifstream(so).good()) << so << " is missing: build it first (make sqlite)";
    Db d;
    ASSERT_EQ(sqlite3_open(":memory:", &d.db), SQLITE_OK);
    sqlite3_enable_load_extension(d.db, 1);
    char* err = nullptr;
    ASSERT_EQ(sqlite3_load_extension(d.db, so.c_str(), nullptr, &err), SQLITE_OK) << (err ? err : "");

    std::map<std::string, int> registered;
    for (auto& r : d.rows("SELECT DISTINCT name, narg FROM pragma_function_list WHERE name LIKE 'bgupdate%'"))
        registered[r[0]] = std::stoi(r[1]);
    std::set<std::string> in_sqlite, in_table;
    for (auto& [name, narg] : registered) in_sqlite.insert(name);
    for (const sql::Function& f : sql::kFunctions)
        if (f.on(sql::kSqlite)) in_table.insert(std::string("bgupdate_") + f.name);
    EXPECT_EQ(in_sqlite, in_table);

    // Argument counts: checked by the function itself (variadic), or by SQLite.
    for (const sql::Function& f : sql::kFunctions) {
        std::string name = std::string("bgupdate_") + f.name;
        if (!f.on(sql::kSqlite) || !registered.count(name)) continue;
        int lo = f.min_args(sql::kSqlite), hi = f.arg_count();
        if (registered[name] >= 0) {
            EXPECT_EQ(lo, hi) << name;
            EXPECT_EQ(registered[name], hi) << name;
            continue;
        }
        std::string want = lo == hi ? std::to_string(lo) : std::to_string(lo) + " to " + std::to_string(hi);
        auto call = [&](int n) {
            std::string q = "SELECT " + name + "(";
            for (int i = 0; i < n; ++i) q += i ? ", NULL" : "NULL";
            return d.error_of(q + ")");
        };
        EXPECT_EQ(call(hi + 1), name + ": takes " + want + " argument(s), got " + std::to_string(hi + 1));
        if (lo > 0)
            EXPECT_EQ(call(lo - 1), name + ": takes " + want + " argument(s), got " + std::to_string(lo - 1));
    }

    std::vector<std::string> columns, in_table_columns;
    for (auto& r : d.rows("SELECT name, type FROM pragma_table_xinfo('bgupdate_status')"))
        columns.push_back(r[0] + " " + r[1]);
    for (const sql::Column& c : sql::kStatusColumns)
        in_table_columns.push_back(std::string(c.name) + " " + sqlite_type(c.type));
    EXPECT_EQ(columns, in_table_columns);
}
