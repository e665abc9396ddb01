// Quoting for the SQL the tool writes itself (snapshots, the port's reads):
// standard SQL, the same on PostgreSQL and SQLite. Values the tool reads
// from a database never reach SQL text any other way.
#pragma once

#include <set>
#include <string>

namespace bgtool {

// "name" with inner double quotes doubled.
inline std::string quote_ident(const std::string& s) {
    std::string out = "\"";
    for (char c : s) out += c == '"' ? std::string("\"\"") : std::string(1, c);
    return out + "\"";
}

// 'text' with inner single quotes doubled.
inline std::string quote_text(const std::string& s) {
    std::string out = "'";
    for (char c : s) out += c == '\'' ? std::string("''") : std::string(1, c);
    return out + "'";
}

// A SQLite table that is not the application's: the extension's own (the
// queue and the Synapse-named schema state, which migrate recreates) and
// SQLite's. Snapshots and ports leave them out.
inline bool is_extension_or_sqlite_table(const std::string& table) {
    static const std::set<std::string> own{"background_updates", "schema_version", "schema_compat_version",
                                           "applied_schema_deltas"};
    return own.count(table) || table.rfind("bgupdate_", 0) == 0 || table.rfind("sqlite_", 0) == 0;
}

}  // namespace bgtool
