// Running what a migration plan (schema_migration.h) asks for, on an engine:
// a full-schema snapshot file, and the record of a delta that was skipped.
// Deltas themselves run through apply_schema_delta (schema_versions.h).
#pragma once

#include <cstdint>
#include <set>
#include <string>
#include <vector>

#include "engine.h"
#include "settings.h"

namespace bgupdate {

// Runs one snapshot file of `version` (placeholders replaced, the queue kept
// as the one `background_updates`), and records schema_version = version,
// not upgraded (so that version's deltas are not due), and the compat version
// when none is set yet. A batch of its own; several snapshot files belong in
// one caller's transaction.
void apply_schema_snapshot(Engine& engine, const Settings& settings, int64_t version, const std::string& file_name,
                           const std::string& sql);

// Whether one of these statements creates a table named background_updates
// (a schema file that brings its own queue table, as Synapse's do).
bool creates_queue_table(const std::vector<std::string>& statements);

// Records that a delta was not run (a Python module) and why; false if it was already recorded.
bool skip_schema_delta(Engine& engine, int64_t version, const std::string& file_name, const std::string& reason);

// The table those records live in, and the files recorded (empty when it does not exist yet).
std::string skipped_deltas_table(Engine& engine);
std::set<std::string> skipped_schema_deltas(Engine& engine);

}  // namespace bgupdate
