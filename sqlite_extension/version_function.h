// bgupdate_version(): the extension's version (the top-level VERSION file),
// which the command-line tool compares with its own.
#pragma once

#include "sqlite_api.h"

namespace bgupdate_sqlite {

// Registers bgupdate_version() on `db`. Returns an SQLite code.
int register_version_function(sqlite3* db);

}  // namespace bgupdate_sqlite
