// Logical databases split across physical ones, as Synapse allows: each
// schema directory but `common` is one logical database (`main`, `state`),
// a physical database holds one or more of them, and `common` is applied to
// every physical database. What a physical database holds is recorded in it
// when it is first migrated; these pure rules decide which directories a
// physical database gets and whether a later run puts a logical database in
// the wrong one.
#pragma once

#include <optional>
#include <set>
#include <string>
#include <vector>

#include "schema_migration.h"

namespace bgupdate {

// The directory applied to every physical database.
inline const char* const kCommonLogicalDatabase = "common";
// Recorded for a database that holds every logical database (one --db for all).
inline const char* const kEveryLogicalDatabase = "*";

// The logical databases the directories define: their labels other than common.
std::set<std::string> logical_databases_of(const std::vector<SchemaDirectory>& directories);

// What a physical database holding `names` records: the names without
// `common` (which every one holds), or {"common"} when that is all it holds.
std::set<std::string> logical_record_of(const std::set<std::string>& names);

// The directories a physical database holding `record` (as logical_record_of
// made it; {"*"}: every one) is migrated with: common and the named ones.
std::vector<SchemaDirectory> directories_for(const std::vector<SchemaDirectory>& directories,
                                             const std::set<std::string>& record);

// Checks a mapping of physical databases (each a set of logical names) against
// the directories: every name has a directory, and every logical database of
// the directories is placed in exactly one physical database. Throws BadInput
// naming what is wrong.
void check_logical_mapping(const std::vector<std::set<std::string>>& physical,
                           const std::vector<SchemaDirectory>& directories);

// Why a run that would give a physical database `requested` (a record as
// logical_record_of makes it) must be refused, when the database recorded
// `recorded` (empty: nothing recorded yet, never a conflict). "*" stands for
// `every` when it is known (migrate: the directories' logical databases);
// without it (status, check) "*" only matches "*".
std::optional<std::string> logical_database_conflict(const std::set<std::string>& recorded,
                                                     const std::set<std::string>& requested,
                                                     const std::optional<std::set<std::string>>& every);

// "main, state" / "every logical database" for messages.
std::string describe_logical_record(const std::set<std::string>& record);

}  // namespace bgupdate
