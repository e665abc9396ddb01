// Brings an SQLite file's store (bgupdate's own tables) to this build's
// store version (store_schema.h), or refuses a file from a newer build.
#pragma once

#include "engine.h"

namespace bgupdate {

// Cheap when the file is up to date (one query). A new file gets the latest
// layout; a file of an older store version is upgraded in place, step by
// step, in one transaction (a failure undoes every step and names the one
// that failed); a file made before store versions existed is recognised by
// the objects it has and brought up to date; a file whose store version is
// newer than this build's is refused and left untouched. PostgreSQL: nothing
// (the extension's scripts and ALTER EXTENSION keep its store).
void ensure_store_schema(Engine& engine);

}  // namespace bgupdate
