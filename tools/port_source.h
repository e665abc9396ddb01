// The SQLite side of `bgupdate port`: the application's tables, a key for
// each (keyset batches: rows after the last key copied, in key order, never
// OFFSET), and rows read with their SQLite types.
#pragma once

#include <sqlite3.h>

#include <optional>
#include <string>
#include <vector>

#include "copy_values.h"

namespace bgtool {

using SourceRow = std::vector<bgupdate::SourceValue>;

struct SourceTable {
    std::string name;
    std::vector<std::string> columns;  // as declared (hidden and generated columns left out)
    // The keyset order: an INTEGER PRIMARY KEY ("rowid"), a WITHOUT ROWID
    // table's primary key, a unique key of NOT NULL columns, else rowid.
    std::vector<std::string> key;
    bool rowid_without_alias = false;  // keyed by a rowid a VACUUM may renumber
    std::string rowid_alias;           // the INTEGER PRIMARY KEY column, if any (AUTOINCREMENT counts it)
    std::string not_copied;            // why it is not a table to copy (virtual), else empty
};

class PortSource {
public:
    explicit PortSource(const std::string& path);  // its own read-only connection
    ~PortSource();
    PortSource(const PortSource&) = delete;
    PortSource& operator=(const PortSource&) = delete;

    // The application's tables: not SQLite's own, not the bgupdate extension's
    // (queue, registry, schema-version state), not shadow tables of virtual ones.
    std::vector<SourceTable> tables();
    int64_t count(const std::string& table);
    // SQLite's AUTOINCREMENT high-water mark of a table (sqlite_sequence).
    std::optional<int64_t> autoincrement_high(const std::string& table);
    // Up to `limit` rows after key `after` (empty: from the start), in key
    // order. Each row holds the key values first, then the columns.
    std::vector<SourceRow> rows_after(const SourceTable& t, const SourceRow& after, int64_t limit);
    // Whether a row with these values (compared with IS) exists.
    bool has_row(const std::string& table, const std::vector<std::string>& columns, const SourceRow& values);

private:
    sqlite3* db_ = nullptr;
};

// Key values as text for progress records and messages, and back.
std::string key_json(const SourceRow& key);
SourceRow key_from_json(const std::string& text);

}  // namespace bgtool
