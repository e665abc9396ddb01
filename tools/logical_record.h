// The record, in a physical database, of which logical databases it holds
// (PostgreSQL bgupdate.logical_databases, SQLite bgupdate_logical_databases).
#pragma once

#include <set>
#include <string>

#include "connection.h"

namespace bgtool {

// Empty when nothing is recorded yet.
std::set<std::string> read_logical_record(Connection& db);
// Adds the names (a record as bgupdate::logical_record_of makes it).
void write_logical_record(Connection& db, const std::set<std::string>& names);

}  // namespace bgtool
