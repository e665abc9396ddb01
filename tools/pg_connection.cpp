// libpq side of Connection. Autocommit: each bgupdate call is its own
// transaction, as the extension expects (step() commits a batch per call).
#include <libpq-fe.h>

#include "connection.h"
#include "version_check.h"

namespace bgtool {
namespace {

// libpq's message without PostgreSQL's CONTEXT lines (and never the conninfo:
// it may hold a password).
std::string first_lines(const char* msg) {
    std::string m = msg ? msg : "unknown error";
    while (!m.empty() && (m.back() == '\n' || m.back() == ' ')) m.pop_back();
    auto ctx = m.find("\nCONTEXT:");
    if (ctx != std::string::npos) m.resize(ctx);
    if (m.rfind("ERROR:  ", 0) == 0) m = m.substr(8);
    return m;
}

class PgConnection : public Connection {
public:
    explicit PgConnection(PGconn* c) : c_(c) {}
    ~PgConnection() override { PQfinish(c_); }
    bgupdate::Dialect::Kind engine() const override { return bgupdate::Dialect::Kind::Postgres; }

    Result query(const std::string& sql, const std::vector<Param>& params) override {
        std::vector<const char*> values;
        for (auto& p : params) values.push_back(p.value ? p.value->c_str() : nullptr);
        PGresult* r = PQexecParams(c_, sql.c_str(), static_cast<int>(values.size()), nullptr, values.data(), nullptr,
                                   nullptr, 0);
        ExecStatusType st = PQresultStatus(r);
        if (st != PGRES_TUPLES_OK && st != PGRES_COMMAND_OK) {
            std::string msg = first_lines(PQresultErrorMessage(r));
            PQclear(r);
            throw DbError(msg);
        }
        Result out;
        int nf = PQnfields(r), nt = PQntuples(r);
        for (int f = 0; f < nf; ++f) out.columns.emplace_back(PQfname(r, f));
        for (int t = 0; t < nt; ++t) {
            std::vector<Cell> row;
            for (int f = 0; f < nf; ++f)
                row.push_back(PQgetisnull(r, t, f) ? Cell{} : Cell{std::string(PQgetvalue(r, t, f))});
            out.rows.push_back(std::move(row));
        }
        PQclear(r);
        return out;
    }
    void begin() override { query("BEGIN", {}); }
    void commit() override { query("COMMIT", {}); }
    void rollback() override { query("ROLLBACK", {}); }

private:
    PGconn* c_;
};

void quiet_notices(void*, const char*) {}

}  // namespace

std::unique_ptr<Connection> open_postgres(const std::string& conninfo) {
    PGconn* c = PQconnectdb(conninfo.c_str());
    if (PQstatus(c) != CONNECTION_OK) {
        std::string msg = first_lines(PQerrorMessage(c));
        PQfinish(c);
        throw DbError("cannot connect to PostgreSQL: " + msg);
    }
    PQsetNoticeProcessor(c, quiet_notices, nullptr);
    auto conn = std::make_unique<PgConnection>(c);
    auto ext = conn->query("SELECT extversion FROM pg_catalog.pg_extension WHERE extname = 'bgupdate'", {});
    if (ext.rows.empty())
        throw DbError("the bgupdate extension is not installed in this database (CREATE EXTENSION bgupdate)");
    warn_if_other_version("the bgupdate extension in this database", ext.rows[0][0],
                          "use the tool of the same version; after a package upgrade: ALTER EXTENSION bgupdate UPDATE");
    return conn;
}

}  // namespace bgtool
