// The source's handler registrations made again on the PostgreSQL target
// through its own register_* functions (so the target checks them as it
// checks any registration), for `bgupdate port`.
#pragma once

#include <string>
#include <vector>

#include "connection.h"

namespace bgtool {

struct RegistrationsCarried {
    std::vector<std::string> registered;  // made on the target
    std::vector<std::string> kept;        // the target had its own already
};

// Throws DbError naming a registration the target refuses.
RegistrationsCarried carry_registrations(Connection& sqlite_source, Connection& postgres_target);

}  // namespace bgtool
