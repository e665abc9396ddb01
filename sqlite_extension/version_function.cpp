#include "version_function.h"

#include "version.h"

namespace bgupdate_sqlite {

namespace {

void version(sqlite3_context* ctx, int, sqlite3_value**) {
    sqlite3_result_text(ctx, bgupdate::version(), -1, SQLITE_STATIC);
}

}  // namespace

int register_version_function(sqlite3* db) {
    // A constant that touches nothing: safe anywhere, like sqlite_version().
    return sqlite3_create_function_v2(db, "bgupdate_version", 0, SQLITE_UTF8 | SQLITE_DETERMINISTIC | SQLITE_INNOCUOUS,
                                      nullptr, version, nullptr, nullptr, nullptr);
}

}  // namespace bgupdate_sqlite
