#include "port_source.h"

#include <algorithm>
#include <set>

#include "connection.h"
#include "json.h"
#include "sql_quoting.h"

namespace bgtool {
namespace {

class Statement {
public:
    Statement(sqlite3* db, const std::string& sql) : db_(db) {
        if (sqlite3_prepare_v2(db, sql.c_str(), -1, &st_, nullptr) != SQLITE_OK)
            throw DbError(std::string("SQLite source: ") + sqlite3_errmsg(db));
    }
    ~Statement() { sqlite3_finalize(st_); }
    void bind(int i, const bgupdate::SourceValue& v) {
        using K = bgupdate::SourceValue::Kind;
        switch (v.kind) {
            case K::Null: sqlite3_bind_null(st_, i); break;
            case K::Integer: sqlite3_bind_int64(st_, i, v.integer); break;
            case K::Real: sqlite3_bind_double(st_, i, v.real); break;
            case K::Text: sqlite3_bind_text(st_, i, v.bytes.data(), static_cast<int>(v.bytes.size()), SQLITE_TRANSIENT); break;
            case K::Blob: sqlite3_bind_blob(st_, i, v.bytes.data(), static_cast<int>(v.bytes.size()), SQLITE_TRANSIENT); break;
        }
    }
    bool step() {
        int rc = sqlite3_step(st_);
        if (rc == SQLITE_ROW) return true;
        if (rc == SQLITE_DONE) return false;
        throw DbError(std::string("SQLite source: ") + sqlite3_errmsg(db_));
    }
    int columns() { return sqlite3_column_count(st_); }
    bgupdate::SourceValue value(int i) {
        switch (sqlite3_column_type(st_, i)) {
            case SQLITE_INTEGER: return bgupdate::SourceValue::of(sqlite3_column_int64(st_, i));
            case SQLITE_FLOAT: return bgupdate::SourceValue::of_real(sqlite3_column_double(st_, i));
            case SQLITE_TEXT: {
                auto p = reinterpret_cast<const char*>(sqlite3_column_text(st_, i));
                return bgupdate::SourceValue::text(std::string(p, sqlite3_column_bytes(st_, i)));
            }
            case SQLITE_BLOB: {
                auto p = static_cast<const char*>(sqlite3_column_blob(st_, i));
                return bgupdate::SourceValue::blob(std::string(p ? p : "", sqlite3_column_bytes(st_, i)));
            }
            default: return bgupdate::SourceValue::null();
        }
    }
    std::string text(int i) {
        auto p = reinterpret_cast<const char*>(sqlite3_column_text(st_, i));
        return p ? p : "";
    }
    int64_t integer(int i) { return sqlite3_column_int64(st_, i); }

private:
    sqlite3* db_;
    sqlite3_stmt* st_ = nullptr;
};

std::string hex(const std::string& bytes) {
    static const char* d = "0123456789abcdef";
    std::string out;
    for (unsigned char c : bytes) { out += d[c >> 4]; out += d[c & 15]; }
    return out;
}

std::string unhex(const std::string& h) {
    std::string out;
    for (size_t i = 0; i + 1 < h.size(); i += 2) out += static_cast<char>(std::stoi(h.substr(i, 2), nullptr, 16));
    return out;
}

}  // namespace

PortSource::PortSource(const std::string& path) {
    if (sqlite3_open_v2(path.c_str(), &db_, SQLITE_OPEN_READONLY, nullptr) != SQLITE_OK) {
        std::string msg = db_ ? sqlite3_errmsg(db_) : "out of memory";
        sqlite3_close_v2(db_);
        db_ = nullptr;
        throw DbError("cannot open the SQLite source " + path + ": " + msg);
    }
    sqlite3_busy_timeout(db_, 5000);
}

PortSource::~PortSource() { sqlite3_close_v2(db_); }

std::vector<SourceTable> PortSource::tables() {
    std::vector<SourceTable> out;
    std::set<std::string> shadow;
    std::vector<std::pair<std::string, std::string>> listed;  // name, type
    std::set<std::string> without_rowid;
    {
        Statement st(db_, "SELECT name, type, wr FROM pragma_table_list WHERE schema = 'main' ORDER BY name");
        while (st.step()) {
            std::string name = st.text(0), type = st.text(1);
            if (type == "shadow") shadow.insert(name);
            if (st.integer(2)) without_rowid.insert(name);
            if (type == "table" || type == "virtual") listed.push_back({name, type});
        }
    }
    for (auto& [name, type] : listed) {
        if (is_extension_or_sqlite_table(name) || shadow.count(name)) continue;
        SourceTable t;
        t.name = name;
        if (type == "virtual") {
            t.not_copied = "a virtual table (its rows live in SQLite's shadow tables)";
            out.push_back(t);
            continue;
        }
        std::vector<std::pair<std::string, std::string>> pk;  // (pk order, name)
        std::set<std::string> not_null;
        std::string integer_pk;
        {
            Statement st(db_, "SELECT name, type, \"notnull\", pk, hidden FROM pragma_table_xinfo(" + quote_text(name) +
                                  ") ORDER BY cid");
            int pk_count = 0;
            std::string pk_type, pk_name;
            while (st.step()) {
                std::string col = st.text(0);
                if (st.integer(4) == 0) t.columns.push_back(col);
                if (st.integer(2)) not_null.insert(col);
                if (st.integer(3) > 0) {
                    ++pk_count;
                    pk.push_back({std::to_string(1000 + st.integer(3)), col});
                    pk_type = st.text(1);
                    pk_name = col;
                }
            }
            // A rowid table whose one key column is declared exactly INTEGER is the rowid.
            std::string upper;
            for (char c : pk_type) upper += static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
            if (pk_count == 1 && upper == "INTEGER" && !without_rowid.count(name)) integer_pk = pk_name;
        }
        std::sort(pk.begin(), pk.end());
        if (!integer_pk.empty()) {
            t.key = {"rowid"};
            t.rowid_alias = integer_pk;
        } else if (without_rowid.count(name)) {
            for (auto& p : pk) t.key.push_back(p.second);
        } else {
            // A unique index over NOT NULL columns (no expressions, not partial).
            Statement idx(db_, "SELECT name FROM pragma_index_list(" + quote_text(name) +
                                   ") WHERE \"unique\" AND NOT partial ORDER BY origin = 'pk' DESC, name");
            while (t.key.empty() && idx.step()) {
                std::string index = idx.text(0);
                std::vector<std::string> cols;
                bool usable = true;
                Statement info(db_, "SELECT cid, name FROM pragma_index_info(" + quote_text(index) + ") ORDER BY seqno");
                while (info.step()) {
                    if (info.integer(0) < 0 || !not_null.count(info.text(1))) usable = false;
                    cols.push_back(info.text(1));
                }
                if (usable && !cols.empty()) t.key = cols;
            }
            if (t.key.empty()) {
                t.key = {"rowid"};
                t.rowid_without_alias = true;
            }
        }
        out.push_back(t);
    }
    return out;
}

int64_t PortSource::count(const std::string& table) {
    Statement st(db_, "SELECT count(*) FROM " + quote_ident(table));
    st.step();
    return st.integer(0);
}

std::optional<int64_t> PortSource::autoincrement_high(const std::string& table) {
    {
        Statement exists(db_, "SELECT 1 FROM sqlite_schema WHERE name = 'sqlite_sequence'");
        if (!exists.step()) return std::nullopt;
    }
    Statement st(db_, "SELECT seq FROM sqlite_sequence WHERE name = ?1");
    st.bind(1, bgupdate::SourceValue::text(table));
    if (!st.step()) return std::nullopt;
    return st.integer(0);
}

std::vector<SourceRow> PortSource::rows_after(const SourceTable& t, const SourceRow& after, int64_t limit) {
    std::string keys, placeholders, select;
    for (size_t i = 0; i < t.key.size(); ++i) {
        std::string k = t.key[i] == "rowid" ? "rowid" : quote_ident(t.key[i]);
        keys += (i ? ", " : "") + k;
        placeholders += (i ? ", " : "") + std::string("?") + std::to_string(i + 1);
    }
    select = keys;
    for (auto& c : t.columns) select += ", " + quote_ident(c);
    std::string where;
    if (!after.empty())
        where = t.key.size() == 1 ? " WHERE " + keys + " > ?1" : " WHERE (" + keys + ") > (" + placeholders + ")";
    Statement st(db_, "SELECT " + select + " FROM " + quote_ident(t.name) + where + " ORDER BY " + keys + " LIMIT " +
                          std::to_string(limit));
    for (size_t i = 0; i < after.size(); ++i) st.bind(static_cast<int>(i + 1), after[i]);
    std::vector<SourceRow> out;
    while (st.step()) {
        SourceRow row;
        for (int i = 0; i < st.columns(); ++i) row.push_back(st.value(i));
        out.push_back(std::move(row));
    }
    return out;
}

bool PortSource::has_row(const std::string& table, const std::vector<std::string>& columns, const SourceRow& values) {
    std::string where;
    for (size_t i = 0; i < columns.size(); ++i)
        where += (i ? " AND " : "") + quote_ident(columns[i]) + " IS ?" + std::to_string(i + 1);
    Statement st(db_, "SELECT 1 FROM " + quote_ident(table) + (where.empty() ? "" : " WHERE " + where) + " LIMIT 1");
    for (size_t i = 0; i < values.size(); ++i) st.bind(static_cast<int>(i + 1), values[i]);
    return st.step();
}

std::string key_json(const SourceRow& key) {
    using K = bgupdate::SourceValue::Kind;
    bgupdate::Json a = bgupdate::Json::array();
    for (auto& v : key) {
        switch (v.kind) {
            case K::Null: a.append(bgupdate::Json()); break;
            case K::Integer: a.append(bgupdate::Json::of(v.integer)); break;
            case K::Text: a.append(bgupdate::Json::of(v.bytes)); break;
            case K::Real: {
                bgupdate::Json o = bgupdate::Json::object();
                o.set("real", bgupdate::exact_real_text(v.real));
                a.append(o);
                break;
            }
            case K::Blob: {
                bgupdate::Json o = bgupdate::Json::object();
                o.set("blob", hex(v.bytes));
                a.append(o);
                break;
            }
        }
    }
    return a.dump();
}

SourceRow key_from_json(const std::string& text) {
    SourceRow out;
    bgupdate::Json a = bgupdate::Json::parse(text, "a port progress key");
    for (size_t i = 0; i < a.size(); ++i) {
        bgupdate::Json v = a.element(i);
        if (v.is_null()) out.push_back(bgupdate::SourceValue::null());
        else if (auto n = v.as_integer()) out.push_back(bgupdate::SourceValue::of(*n));
        else if (auto s = v.as_string()) out.push_back(bgupdate::SourceValue::text(*s));
        else if (auto r = v.get_string("real")) out.push_back(bgupdate::SourceValue::of_real(std::stod(*r)));
        else if (auto b = v.get_string("blob")) out.push_back(bgupdate::SourceValue::blob(unhex(*b)));
        else throw DbError("a port progress key is damaged: " + text);
    }
    return out;
}

}  // namespace bgtool
