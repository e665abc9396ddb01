// Migrations as Synapse runs them, as pure planning logic: which full-schema
// snapshot an empty database starts from, which delta files of which
// versions come next and in what order, which are skipped (the other
// engine's, Python modules), how the schema and compat versions advance, and
// when old code must be refused. Reading files and running SQL are the
// caller's job (the command-line tool; applications through SQL).
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "dialect.h"

namespace bgupdate {

struct SchemaFile {
    std::string name;  // file name only, e.g. "01_add_column.sql"
    std::string path;  // where to read it (opaque here)
};

// One schema directory (Synapse has common, main and state): its full-schema
// snapshots (full_schemas/<version>/) and deltas (delta/<version>/) by version.
struct SchemaDirectory {
    std::string label;
    std::map<int64_t, std::vector<SchemaFile>> snapshots;
    std::map<int64_t, std::vector<SchemaFile>> deltas;
};

// What the database says about its schema.
struct SchemaState {
    std::optional<int64_t> version;  // nullopt: empty database (no schema_version row)
    bool upgraded = false;           // false: reached `version` by a snapshot, its deltas are not due
    std::optional<int64_t> compat_version;
    std::set<std::string> applied;  // applied_schema_deltas.file ("73/01_x.sql")
    std::set<std::string> skipped;  // recorded as skipped (Python deltas)
};

struct MigrationOptions {
    Dialect::Kind engine = Dialect::Kind::Sqlite;
    std::optional<int64_t> target_version;   // nullopt: the newest version found
    std::optional<int64_t> compat_version;   // the code's compat version (Synapse's SCHEMA_COMPAT_VERSION)
    bool stop_on_python = false;             // stop before a .py delta instead of skipping it
};

enum class DeltaFileKind { Sql, OtherEngine, Python, Ignored, Unknown };
// How a file in a delta or snapshot directory is treated on `engine`.
DeltaFileKind classify_schema_file(const std::string& name, Dialect::Kind engine);

enum class StepKind {
    Snapshot,     // run a full-schema file (not recorded; the snapshot version is)
    SetVersion,   // schema_version := version (upgraded), schema_compat_version := compat
    Delta,        // run a delta file and record it
    SkipPython,   // record a .py delta as skipped (cannot be run here)
    StopPython,   // stop: a .py delta must be run by its application first
    OtherEngine,  // a .sql.<other engine> file: nothing to do (listed for reports)
};
const char* step_kind_name(StepKind kind);

struct MigrationStep {
    StepKind kind;
    int64_t version = 0;
    std::string file;  // Snapshot: file name; Delta/Skip/Stop: "<version>/<file name>"
    std::string path;
    std::string directory;  // the SchemaDirectory label it came from
    // SetVersion: the compat version to write with it. Never above the version
    // itself (so while an upgrade is half done, code older than the version
    // reached refuses the database), never above the plan's compat version.
    int64_t compat_version = 0;
};

struct MigrationPlan {
    int64_t target_version = 0;
    std::optional<int64_t> snapshot_version;
    std::optional<int64_t> from_version;  // the database's version before
    int64_t compat_version = 0;           // what schema_compat_version becomes
    std::vector<MigrationStep> steps;
    std::vector<std::string> warnings;  // files that are not deltas, a database newer than the target
    bool changes_anything() const;
};

// Why code of `code_version` must not use a database in `state` (its compat
// version is newer), or nullopt when it may.
std::optional<std::string> schema_incompatibility(const SchemaState& state, int64_t code_version);

// The newest version the directories have a snapshot or delta of (0: none):
// the default target. Every physical database of a split application is
// migrated to the newest version of all directories, not only of its own.
int64_t newest_schema_version(const std::vector<SchemaDirectory>& directories);

// Plans the migration of a database in `state` to the target version.
// Throws BadInput, before anything is planned, when the database's compat
// version is newer than the target (old code on a newer schema), when no
// snapshot fits an empty database that needs one, or when two directories
// have a delta of the same name for one version.
MigrationPlan plan_migration(const std::vector<SchemaDirectory>& directories, const SchemaState& state,
                             const MigrationOptions& options);

// Synapse's placeholders, replaced per engine before a file runs:
// $%AUTO_INCREMENT_PRIMARY_KEY%$.
std::string substitute_schema_placeholders(const std::string& sql, Dialect::Kind engine);

}  // namespace bgupdate
