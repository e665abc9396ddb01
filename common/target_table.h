// Which table an update writes to, so that runners working side by side
// (PostgreSQL: several workers of one database, sessions) never run two
// updates on the same table at the same time. Declarative handlers name
// their table; a generic handler is an application function whose table is
// unknown, so it is treated as touching every table.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "store.h"

namespace bgupdate {

// The user table an update writes to, as registered ("schema.table" or
// "table"); nullopt for a generic handler (unknown) or an unreadable spec.
std::optional<std::string> target_table(const Registration& reg);

// Its relation name (the last part of "schema.table", partitions.h
// relation_of); nullopt for a generic handler (unknown). Keying on the bare relation name
// is conservative: public.t and other.t are kept apart although they differ,
// but one table can never be reached under two keys.
std::optional<std::string> target_relation(const Registration& reg);

// The registration as its batch runs it: a table pinned at registration
// (Engine::pin_table) is reached under its name now, followed through a
// rename; a table dropped, or replaced by another under its name, is an error.
// Call as the update's owner (names resolve in its search_path).
Registration with_pinned_table(Engine& engine, const Registration& reg);

// How many of these runnable updates could run at the same time: one per
// distinct known table; updates on unknown tables run alone (width 1).
int parallel_width(const std::vector<std::optional<std::string>>& targets);

}  // namespace bgupdate
