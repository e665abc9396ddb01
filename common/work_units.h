// What a runner claims: an update as a whole, or one partition of an update
// on a partitioned table. Most updates are one unit. A key-range update on a
// partitioned table (batched update, validate-and-delete), once its first
// batch has listed the table's partitions into its progress, is one unit per
// partition not finished yet: runners take different partitions side by
// side, each claiming its partition (never two on one partition).
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "json.h"
#include "store.h"

namespace bgupdate {

struct WorkUnit {
    std::string partition;              // "" = the update as a whole; else "schema.leaf", as in the progress
    std::optional<std::string> table;   // the table claim (target_table.h); nullopt: unknown, runs alone
    std::optional<std::string> parent;  // a partition's table, claimed shared
};

// The units of an update whose queue row has this progress, in the order a
// runner tries them. Never empty.
std::vector<WorkUnit> work_units(const Registration& reg, const std::string& progress_json);
// Without a registration: the update as a whole, on an unknown table.
std::vector<WorkUnit> work_units_of_unregistered();

// A partition's entry in the progress is finished: done, or gone (detached
// or dropped while the update ran).
bool partition_finished(const Json& entry);

// The key an update claim is taken under (Engine::try_claim_update): the
// update's name, or for a partition its name, a 0x1F byte and the partition.
std::string claim_key(const std::string& update_name, const WorkUnit& unit);
// The update a claim key belongs to.
std::string update_of_claim_key(const std::string& key);
// For messages and pg_stat_activity: "name (partition schema.leaf)".
std::string describe_claim_key(const std::string& key);

}  // namespace bgupdate
