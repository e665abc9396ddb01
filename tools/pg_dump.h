// The real pg_dump, found for the server it dumps: snapshots of PostgreSQL
// schemas are made by it, never re-implemented.
#pragma once

#include <string>
#include <vector>

#include "connection.h"

namespace bgtool {

struct PgDump {
    std::string path;
    int major = 0;
};

// The first of: `explicit_path`; pg_dump in the server's BINDIR (when the
// pg_config view is readable and the directory is on this machine);
// /usr/lib/postgresql/<server major>/bin (Debian's layout); pg_dump on PATH;
// whose major version is at least the server's. Throws DbError naming every
// candidate tried and why it was not taken.
PgDump find_pg_dump(Connection& db, const std::string& explicit_path);

// Runs pg_dump with `options` on the database of `conninfo` (a URI or
// key=value). A password goes to it through PGPASSWORD, never its command
// line; it never prompts. Returns stdout; throws DbError with its stderr.
std::string run_pg_dump(const PgDump& pg_dump, const std::string& conninfo, const std::vector<std::string>& options);

}  // namespace bgtool
