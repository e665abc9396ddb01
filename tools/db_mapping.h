// --db arguments: one plain database (`--db URL`: it holds every logical
// database), or a mapping of logical databases to physical ones
// (`--db main=URL --db state=URL`; the same URL under several names is one
// physical database holding them all).
#pragma once

#include <set>
#include <stdexcept>
#include <string>
#include <vector>

namespace bgtool {

// The command line itself is wrong (exit code 2).
class UsageError : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

struct PhysicalDatabase {
    std::string url;
    std::set<std::string> logical;  // empty: a plain --db (every logical database)
    // How output names it: "main", "main+state", or "" for a plain --db
    // (never the URL: it may hold a password).
    std::string label() const;
};

struct DbMapping {
    std::vector<PhysicalDatabase> databases;
    bool split() const { return !databases.empty() && !databases.front().logical.empty(); }
    // Every logical database the mapping places (without common): what a
    // database that recorded "every logical database" stands for here.
    std::set<std::string> every_logical() const;
};

// Throws UsageError for no --db, several plain ones, a mix,
// or a logical name given twice. NAME=VALUE is a mapping unless NAME is one
// of libpq's connection keywords (then the whole is a key=value conninfo).
DbMapping parse_db_mapping(const std::vector<std::string>& args);

// The one physical database of a command that works on one (`--db URL`, or
// `--db main=URL` naming one).
std::string single_database(const std::vector<std::string>& args);

}  // namespace bgtool
