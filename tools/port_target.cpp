#include "port_target.h"

#include <algorithm>
#include <cctype>

#include "connection.h"

namespace bgtool {
namespace {

std::string message_of(PGconn* conn, PGresult* r) {
    std::string m = r ? PQresultErrorMessage(r) : PQerrorMessage(conn);
    while (!m.empty() && (m.back() == '\n' || m.back() == ' ')) m.pop_back();
    if (m.rfind("ERROR:  ", 0) == 0) m = m.substr(8);
    for (auto& c : m)
        if (c == '\n') c = ' ';
    return m;
}

std::string lower(std::string s) {
    for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return s;
}

std::string now_iso() { return "to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')"; }

}  // namespace

std::string quote_pg_ident(const std::string& s) {
    std::string out = "\"";
    for (char c : s) out += c == '"' ? std::string("\"\"") : std::string(1, c);
    return out + "\"";
}

const TargetColumn* TargetTable::column(const std::string& name_any_case) const {
    for (auto& c : columns)
        if (c.name == name_any_case) return &c;
    for (auto& c : columns)
        if (lower(c.name) == lower(name_any_case)) return &c;
    return nullptr;
}

PortTarget::PortTarget(const std::string& conninfo) {
    conn_ = PQconnectdb(conninfo.c_str());
    if (PQstatus(conn_) != CONNECTION_OK) {
        std::string msg = message_of(conn_, nullptr);
        PQfinish(conn_);
        conn_ = nullptr;
        throw DbError("cannot connect to the PostgreSQL target: " + msg);
    }
    PQsetNoticeProcessor(conn_, [](void*, const char*) {}, nullptr);
}

PortTarget::~PortTarget() {
    if (conn_) PQfinish(conn_);
}

std::vector<std::vector<std::optional<std::string>>> PortTarget::query(const std::string& sql,
                                                                       const std::vector<std::string>& params) {
    std::vector<const char*> values;
    for (auto& p : params) values.push_back(p.c_str());
    PGresult* r = PQexecParams(conn_, sql.c_str(), static_cast<int>(values.size()), nullptr, values.data(), nullptr,
                               nullptr, 0);
    ExecStatusType st = PQresultStatus(r);
    if (st != PGRES_TUPLES_OK && st != PGRES_COMMAND_OK) {
        std::string msg = message_of(conn_, r);
        PQclear(r);
        throw DbError(msg);
    }
    std::vector<std::vector<std::optional<std::string>>> out;
    for (int t = 0; t < PQntuples(r); ++t) {
        std::vector<std::optional<std::string>> row;
        for (int f = 0; f < PQnfields(r); ++f)
            row.push_back(PQgetisnull(r, t, f) ? std::nullopt : std::optional<std::string>(PQgetvalue(r, t, f)));
        out.push_back(std::move(row));
    }
    PQclear(r);
    return out;
}

void PortTarget::exec(const std::string& sql) { query(sql); }

std::map<std::string, TargetTable> PortTarget::tables() {
    std::map<std::string, TargetTable> out;
    auto rows = query(
        "SELECT c.relname, quote_ident(n.nspname) || '.' || quote_ident(c.relname), a.attname,"
        "       coalesce(bt.typname, t.typname), coalesce(bt.typcategory, t.typcategory)::text,"
        "       format_type(a.atttypid, a.atttypmod), a.attgenerated <> '', a.attnotnull AND NOT a.atthasdef AND a.attidentity = '',"
        "       coalesce(pg_get_serial_sequence(quote_ident(n.nspname) || '.' || quote_ident(c.relname), a.attname),"
        "                (SELECT d.refobjid::regclass::text FROM pg_attrdef ad JOIN pg_depend d"
        "                    ON d.classid = 'pg_attrdef'::regclass AND d.objid = ad.oid"
        "                   AND d.refclassid = 'pg_class'::regclass"
        "                  JOIN pg_class s ON s.oid = d.refobjid AND s.relkind = 'S'"
        "                 WHERE ad.adrelid = c.oid AND ad.adnum = a.attnum LIMIT 1))"
        "  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
        "  JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped"
        "  JOIN pg_type t ON t.oid = a.atttypid LEFT JOIN pg_type bt ON t.typtype = 'd' AND bt.oid = t.typbasetype"
        " WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p') AND NOT c.relispartition"
        " ORDER BY c.relname, a.attnum");
    for (auto& r : rows) {
        TargetTable& t = out[lower(*r[0])];
        t.name = *r[0];
        t.qualified = *r[1];
        TargetColumn col;
        col.name = *r[2];
        col.type = bgupdate::target_type_of(*r[3], r[4]->empty() ? 'X' : (*r[4])[0]);
        col.type_name = *r[5];
        col.generated = *r[6] == "t";
        col.required = *r[7] == "t";
        col.sequence = r[8].value_or("");
        t.columns.push_back(col);
    }
    // Keys: the primary key, else the first unique constraint, else every column.
    auto keys = query(
        "SELECT c.relname, con.contype, con.conname, a.attname FROM pg_constraint con"
        "  JOIN pg_class c ON c.oid = con.conrelid JOIN pg_namespace n ON n.oid = c.relnamespace"
        "  CROSS JOIN LATERAL unnest(con.conkey) WITH ORDINALITY k(attnum, ord)"
        "  JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = k.attnum"
        " WHERE n.nspname = current_schema() AND con.contype IN ('p', 'u')"
        " ORDER BY c.relname, con.contype, con.conname, k.ord");
    std::map<std::string, std::string> chosen;  // table -> constraint
    for (auto& r : keys) {
        auto it = out.find(lower(*r[0]));
        if (it == out.end()) continue;
        auto& ch = chosen[it->first];
        if (ch.empty()) ch = *r[2];
        if (ch == *r[2]) it->second.key.push_back(*r[3]);
    }
    for (auto& [name, t] : out)
        if (t.key.empty())
            for (auto& c : t.columns)
                if (!c.generated) t.key.push_back(c.name);
    return out;
}

std::vector<std::string> PortTarget::foreign_key_order(const std::vector<std::string>& names) {
    std::map<std::string, std::set<std::string>> needs;
    std::set<std::string> wanted;
    for (auto& n : names) wanted.insert(lower(n));
    for (auto& r : query("SELECT lower(c.relname), lower(f.relname) FROM pg_constraint con"
                         "  JOIN pg_class c ON c.oid = con.conrelid JOIN pg_class f ON f.oid = con.confrelid"
                         "  JOIN pg_namespace n ON n.oid = c.relnamespace"
                         " WHERE con.contype = 'f' AND n.nspname = current_schema() AND c.oid <> f.oid"))
        if (wanted.count(*r[0]) && wanted.count(*r[1])) needs[*r[0]].insert(*r[1]);
    std::vector<std::string> out, left = names;
    std::set<std::string> placed;
    bool progress = true;
    while (!left.empty() && progress) {
        progress = false;
        std::vector<std::string> still;
        for (auto& n : left) {
            bool ready = true;
            for (auto& dep : needs[lower(n)])
                if (!placed.count(dep)) ready = false;
            if (ready) {
                out.push_back(n);
                placed.insert(lower(n));
                progress = true;
            } else {
                still.push_back(n);
            }
        }
        left = still;
    }
    out.insert(out.end(), left.begin(), left.end());  // a cycle: as they are
    return out;
}

int64_t PortTarget::count(const TargetTable& t) {
    return std::stoll(query("SELECT count(*) FROM " + t.qualified).at(0).at(0).value_or("0"));
}

std::vector<std::vector<std::optional<std::string>>> PortTarget::key_rows(const TargetTable& t, int64_t limit) {
    std::string cols;
    for (auto& k : t.key) cols += (cols.empty() ? "" : ", ") + quote_pg_ident(k) + "::text";
    return query("SELECT " + cols + " FROM " + t.qualified + " LIMIT " + std::to_string(limit));
}

std::map<std::string, PortProgress> PortTarget::progress() {
    std::map<std::string, PortProgress> out;
    for (auto& r : query("SELECT table_name, source, key_columns, last_key, rows_copied, done FROM bgupdate.port_progress")) {
        PortProgress p;
        p.table = *r[0];
        p.source = *r[1];
        p.key_columns = *r[2];
        p.last_key = r[3];
        p.rows = std::stoll(*r[4]);
        p.done = *r[5] == "t";
        out[p.table] = p;
    }
    return out;
}

void PortTarget::copy_batch(const TargetTable& t, const std::vector<std::string>& columns, const std::string& data,
                            const PortProgress& after, bool first_batch) {
    exec("BEGIN");
    try {
        if (first_batch) exec("DELETE FROM " + t.qualified);
        if (!data.empty()) {
            std::string cols;
            for (auto& c : columns) cols += (cols.empty() ? "" : ", ") + quote_pg_ident(c);
            PGresult* r = PQexec(conn_, ("COPY " + t.qualified + " (" + cols + ") FROM STDIN").c_str());
            if (PQresultStatus(r) != PGRES_COPY_IN) {
                std::string msg = message_of(conn_, r);
                PQclear(r);
                throw DbError(msg);
            }
            PQclear(r);
            if (PQputCopyData(conn_, data.data(), static_cast<int>(data.size())) != 1 || PQputCopyEnd(conn_, nullptr) != 1)
                throw DbError(message_of(conn_, nullptr));
            r = PQgetResult(conn_);
            bool ok = PQresultStatus(r) == PGRES_COMMAND_OK;
            std::string msg = ok ? "" : message_of(conn_, r);  // with COPY's CONTEXT: the line and column
            PQclear(r);
            while ((r = PQgetResult(conn_))) PQclear(r);
            if (!ok) throw DbError(msg);
        }
        query("INSERT INTO bgupdate.port_progress (table_name, source, key_columns, last_key, rows_copied, done, updated_at)"
              " VALUES ($1, $2, $3, $4, $5, $6, " + now_iso() + ")"
              " ON CONFLICT (table_name) DO UPDATE SET source = EXCLUDED.source, key_columns = EXCLUDED.key_columns,"
              " last_key = EXCLUDED.last_key, rows_copied = EXCLUDED.rows_copied, done = EXCLUDED.done,"
              " updated_at = EXCLUDED.updated_at",
              {after.table, after.source, after.key_columns, after.last_key.value_or(""), std::to_string(after.rows),
               after.done ? "true" : "false"});
        exec("COMMIT");
    } catch (...) {
        PGresult* r = PQexec(conn_, "ROLLBACK");
        PQclear(r);
        throw;
    }
}

std::optional<int64_t> PortTarget::move_sequence_past(const std::string& sequence,
                                                      const std::vector<std::pair<std::string, std::string>>& columns,
                                                      std::optional<int64_t> at_least) {
    std::string greatest;
    for (auto& [table, column] : columns)
        greatest += (greatest.empty() ? "" : ", ") + std::string("(SELECT max(") + quote_pg_ident(column) + ") FROM " +
                    table + ")";
    if (at_least) greatest += ", " + std::to_string(*at_least);
    auto r = query("SELECT GREATEST(" + greatest + ")::bigint");
    if (r.empty() || !r[0][0]) return std::nullopt;
    // Below the sequence's minimum (an id 0): start at the minimum instead.
    auto set = query("SELECT setval(s.seqrelid, GREATEST($2::bigint, s.seqmin), $2::bigint >= s.seqmin)"
                     "  FROM pg_sequence s WHERE s.seqrelid = $1::regclass",
                     {sequence, *r[0][0]});
    if (set.empty() || !set[0][0]) throw DbError(sequence + " is not a sequence");
    return std::stoll(*set[0][0]);
}

std::string PortTarget::sequence_named(const std::string& name) {
    try {
        auto r = query("SELECT c.oid::regclass::text FROM pg_class c WHERE c.oid = $1::regclass AND c.relkind = 'S'", {name});
        if (!r.empty()) return *r[0][0];
    } catch (const DbError&) {
    }
    throw DbError("no sequence named " + name + " in the target");
}

std::vector<std::string> PortTarget::loose_sequences() {
    std::vector<std::string> out;
    for (auto& r : query(
             "SELECT s.oid::regclass::text FROM pg_class s"
             "  JOIN pg_namespace n ON n.oid = s.relnamespace"
             " WHERE s.relkind = 'S' AND n.nspname = current_schema()"
             "   AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass AND d.objid = s.oid"
             "                   AND d.refclassid = 'pg_class'::regclass AND d.deptype IN ('a', 'i'))"
             "   AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.refclassid = 'pg_class'::regclass"
             "                   AND d.refobjid = s.oid AND d.classid = 'pg_attrdef'::regclass)"
             " ORDER BY 1"))
        out.push_back(*r[0]);
    return out;
}

}  // namespace bgtool
