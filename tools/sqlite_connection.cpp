// SQLite side of Connection: the database file with the bgupdate extension
// loaded on the connection. Autocommit unless begin() is called: the
// extension makes each batch atomic itself.
#include <sqlite3.h>

#include <filesystem>

#include "connection.h"
#include "version_check.h"

namespace bgtool {
namespace {

class SqliteConnection : public Connection {
public:
    explicit SqliteConnection(sqlite3* db) : db_(db) {}
    ~SqliteConnection() override { sqlite3_close_v2(db_); }
    bgupdate::Dialect::Kind engine() const override { return bgupdate::Dialect::Kind::Sqlite; }

    Result query(const std::string& sql, const std::vector<Param>& params) override {
        sqlite3_stmt* st = nullptr;
        if (sqlite3_prepare_v2(db_, sql.c_str(), -1, &st, nullptr) != SQLITE_OK) throw DbError(sqlite3_errmsg(db_));
        for (size_t i = 0; i < params.size(); ++i) {
            int k = static_cast<int>(i + 1);
            const Param& p = params[i];
            if (!p.value) sqlite3_bind_null(st, k);
            else if (p.is_integer) sqlite3_bind_int64(st, k, std::stoll(*p.value));
            else sqlite3_bind_text(st, k, p.value->c_str(), static_cast<int>(p.value->size()), SQLITE_TRANSIENT);
        }
        Result out;
        int n = sqlite3_column_count(st);
        for (int i = 0; i < n; ++i) out.columns.emplace_back(sqlite3_column_name(st, i));
        int rc;
        while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
            std::vector<Cell> row;
            for (int i = 0; i < n; ++i) {
                if (sqlite3_column_type(st, i) == SQLITE_NULL) {
                    row.emplace_back();
                } else {
                    const unsigned char* t = sqlite3_column_text(st, i);
                    row.emplace_back(std::string(reinterpret_cast<const char*>(t), sqlite3_column_bytes(st, i)));
                }
            }
            out.rows.push_back(std::move(row));
        }
        if (rc != SQLITE_DONE) {
            std::string msg = sqlite3_errmsg(db_);
            sqlite3_finalize(st);
            throw DbError(msg);
        }
        sqlite3_finalize(st);
        return out;
    }
    void begin() override { query("BEGIN IMMEDIATE", {}); }
    void commit() override { query("COMMIT", {}); }
    void rollback() override {
        if (!sqlite3_get_autocommit(db_)) query("ROLLBACK", {});
    }

private:
    sqlite3* db_;
};

}  // namespace

std::unique_ptr<Connection> open_sqlite(const std::string& path, const std::string& extension, bool must_exist) {
    std::error_code ec;
    if (must_exist && !std::filesystem::exists(path, ec)) throw DbError("no such SQLite database: " + path);
    sqlite3* db = nullptr;
    int flags = SQLITE_OPEN_READWRITE | (must_exist ? 0 : SQLITE_OPEN_CREATE);
    if (sqlite3_open_v2(path.c_str(), &db, flags, nullptr) != SQLITE_OK) {
        std::string msg = db ? sqlite3_errmsg(db) : "out of memory";
        sqlite3_close_v2(db);
        throw DbError("cannot open SQLite database " + path + ": " + msg);
    }
    auto conn = std::make_unique<SqliteConnection>(db);
    sqlite3_busy_timeout(db, 5000);  // an application writing meanwhile is normal
    char* err = nullptr;
    sqlite3_enable_load_extension(db, 1);
    if (sqlite3_load_extension(db, extension.c_str(), nullptr, &err) != SQLITE_OK) {
        std::string msg = err ? err : "unknown error";
        sqlite3_free(err);
        throw DbError("cannot load the bgupdate SQLite extension '" + extension + "': " + msg +
                      " (install it with 'make install', or pass --extension PATH)");
    }
    sqlite3_enable_load_extension(db, 0);
    Cell their_version;  // an extension older than 1.2 has no bgupdate_version()
    try {
        their_version = conn->query("SELECT bgupdate_version()", {}).rows.at(0).at(0);
    } catch (const DbError&) {
    }
    warn_if_other_version("the SQLite extension '" + extension + "'", their_version,
                          "use the tool and the extension of the same version");
    // The extension creates its tables on first use.
    conn->query("SELECT bgupdate_enabled()", {});
    return conn;
}

}  // namespace bgtool
