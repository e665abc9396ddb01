// Synapse's schema management: the schema version, the oldest code version
// that may use the database (compat version), and deltas applied once each.
#pragma once

#include <cstdint>
#include <string>

#include "engine.h"
#include "settings.h"

namespace bgupdate {

void check_schema_compat(Engine& engine, int64_t code_version);
bool apply_schema_delta(Engine& engine, const Settings& settings, int64_t version, const std::string& file_name,
                        const std::string& sql);
void set_schema_version(Engine& engine, const Settings& settings, int64_t version, int64_t compat_version);

}  // namespace bgupdate
