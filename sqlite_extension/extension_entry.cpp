// Entry point of the loadable extension: `.load ./bgupdate` (SQLite derives
// sqlite3_bgupdate_init from the file name) or load_extension('bgupdate').
#define BGUPDATE_EXTENSION_ENTRY
#include "sqlite_api.h"
SQLITE_EXTENSION_INIT1

#include <new>

#include "connection.h"
#include "sql_functions.h"
#include "status_vtab.h"
#include "version_function.h"

extern "C" __attribute__((visibility("default"))) int sqlite3_bgupdate_init(sqlite3* db, char** errmsg,
                                                                            const sqlite3_api_routines* api) {
    SQLITE_EXTENSION_INIT2(api);
    auto* conn = new (std::nothrow) bgupdate_sqlite::Connection(db);
    if (!conn) return SQLITE_NOMEM;
    // Hold a reference while registering so a failure part-way frees it once.
    conn->add_ref();
    int rc = bgupdate_sqlite::register_sql_functions(conn, errmsg);
    if (rc == SQLITE_OK) {
        rc = bgupdate_sqlite::register_status_table(conn);
        if (rc != SQLITE_OK && errmsg) {
            *errmsg = sqlite3_mprintf("bgupdate: cannot register bgupdate_status: %s", sqlite3_errmsg(db));
        }
    }
    if (rc == SQLITE_OK) {
        rc = bgupdate_sqlite::register_version_function(db);
        if (rc != SQLITE_OK && errmsg) {
            *errmsg = sqlite3_mprintf("bgupdate: cannot register bgupdate_version: %s", sqlite3_errmsg(db));
        }
    }
    bgupdate_sqlite::Connection::release(conn);
    return rc;
}
