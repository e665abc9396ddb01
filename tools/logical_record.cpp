#include "logical_record.h"

namespace bgtool {
namespace {

std::string table(Connection& db) {
    return db.is_postgres() ? "bgupdate.logical_databases" : "bgupdate_logical_databases";
}

}  // namespace

std::set<std::string> read_logical_record(Connection& db) {
    if (db.is_postgres() &&
        !Connection::truthy(db.query("SELECT to_regclass('bgupdate.logical_databases') IS NOT NULL").rows.at(0).at(0)))
        throw DbError("the bgupdate extension in this database is older than version 1.2 "
                      "(no bgupdate.logical_databases): run ALTER EXTENSION bgupdate UPDATE");
    std::set<std::string> out;
    for (auto& row : db.query("SELECT name FROM " + table(db)).rows)
        if (row[0]) out.insert(*row[0]);
    return out;
}

void write_logical_record(Connection& db, const std::set<std::string>& names) {
    std::string now = db.is_postgres() ? "to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')"
                                       : "strftime('%Y-%m-%dT%H:%M:%SZ', 'now')";
    for (auto& n : names)
        db.query("INSERT INTO " + table(db) + " (name, recorded_at) VALUES (" + db.p(1) + ", " + now +
                     ") ON CONFLICT (name) DO NOTHING",
                 {Param::text(n)});
}

}  // namespace bgtool
