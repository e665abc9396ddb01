#include "connection.h"

#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <regex>

namespace bgtool {

Cell Result::get(size_t r, const std::string& column) const {
    for (size_t i = 0; i < columns.size(); ++i)
        if (columns[i] == column) return r < rows.size() ? rows[r][i] : std::nullopt;
    return std::nullopt;
}

std::string Connection::p(int i, const char* pg_type) const {
    return is_postgres() ? "$" + std::to_string(i) + "::" + pg_type : "?" + std::to_string(i);
}

std::string Connection::fn(const std::string& name) const {
    return (is_postgres() ? "bgupdate." : "bgupdate_") + name;
}

std::string Connection::schema_table(const std::string& name) const {
    return is_postgres() ? "bgupdate." + name : name;
}

bool Connection::truthy(const Cell& c) {
    return c && (*c == "t" || *c == "true" || *c == "1");
}

namespace {

bool starts_with(const std::string& s, const char* prefix) { return s.rfind(prefix, 0) == 0; }

// The build tree's extension when this program runs from the build tree.
std::string extension_next_to_program() {
    std::error_code ec;
    auto self = std::filesystem::read_symlink("/proc/self/exe", ec);
    if (ec) return "";
    auto candidate = self.parent_path().parent_path() / "sqlite_extension" / "bgupdate.so";
    return std::filesystem::exists(candidate, ec) ? candidate.string() : "";
}

}  // namespace

bool is_postgres_url(const std::string& db) {
    return starts_with(db, "postgresql://") || starts_with(db, "postgres://") ||
           std::regex_search(db, std::regex("^[a-z_]+="));  // key=value conninfo
}

std::string sqlite_path_of(const std::string& db) {
    if (starts_with(db, "sqlite://")) {
        std::string path = db.substr(9);  // sqlite:///abs -> /abs ; sqlite://rel -> rel
        if (path.empty()) throw DbError("sqlite:// needs a path, e.g. sqlite:///var/lib/app.db");
        return path;
    }
    if (starts_with(db, "sqlite:")) return db.substr(7);
    if (db.find("://") != std::string::npos)
        throw DbError("unknown kind of database URL (expected postgresql://… or sqlite:///path)");
    return db;
}

std::unique_ptr<Connection> open_connection(const ConnectOptions& o) {
    const std::string& db = o.db;
    if (db.empty()) throw DbError("no database given: use --db postgresql://… or --db sqlite:///path (or set BGUPDATE_DB)");
    if (is_postgres_url(db)) return open_postgres(db);
    std::string path = sqlite_path_of(db);
    std::string ext = o.sqlite_extension;
    if (ext.empty()) if (const char* env = std::getenv("BGUPDATE_SQLITE_EXTENSION")) ext = env;
    if (ext.empty()) ext = extension_next_to_program();
    if (ext.empty()) ext = "bgupdate";  // installed: found by the dynamic loader
    return open_sqlite(path, ext, o.must_exist);
}

}  // namespace bgtool
