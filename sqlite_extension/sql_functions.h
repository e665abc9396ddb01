// The SQL functions of the extension (SPEC "Handlers" and "Running").
#pragma once

#include "connection.h"

namespace bgupdate_sqlite {

// Registers every bgupdate_* function on `conn->db`. Returns an SQLite code.
int register_sql_functions(Connection* conn, char** errmsg);

}  // namespace bgupdate_sqlite
