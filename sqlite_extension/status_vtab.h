// The eponymous table-valued function bgupdate_status.
#pragma once

#include "connection.h"

namespace bgupdate_sqlite {

// Registers the bgupdate_status module on `conn->db`. Returns an SQLite code.
int register_status_table(Connection* conn);

}  // namespace bgupdate_sqlite
