// How the key-range handlers (batched updates, validate-and-delete) work
// through a partitioned table, partition by partition:
// - their first batch (the update as a whole) lists the table's leaf
//   partitions into the progress, "partitions": {"schema.leaf": {}, ...},
//   with the end of a fixed key range captured over the whole table;
// - then each batch works on one partition (BatchContext::partition, given
//   by the runner's work units, work_units.h): keyset within the partition,
//   on the partition itself (read as its parent, so that fragments naming
//   the parent resolve); its entry records the bound within it
//   ("lower_bound"), then "done";
// - a partition detached or dropped meanwhile gets "gone" (saying which)
//   and is skipped: its rows are no longer the table's;
// - the batch that finishes the last partition lists the partitions again:
//   one attached or created meanwhile is added ("attached_during_run") and
//   covered before the update moves on (completes, or validates).
// Runners work on different partitions of one update at the same time: a
// batch reads the progress afresh after its claim (its partition's entry is
// its own, as only the holder of the partition's claim writes it) and merges
// the entry back with the queue row locked.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "handler.h"
#include "key_range.h"
#include "keyset.h"

namespace bgupdate {

// What one batch on one partition did.
struct PartitionStep {
    int64_t items = 0;
    Json entry;  // the partition's new progress entry
};

// One batch on `leaf`, within `scope` (its FROM item reads the partition as
// its parent), from the partition's progress `entry`.
using PartitionWork = std::function<PartitionStep(const PartitionNode& leaf, const KeysetScope& scope, const Json& entry)>;
// Every partition is finished and none was added: complete the update
// (ctx.complete(); return true) or move `progress` on (return false: it is saved).
using AllPartitionsDone = std::function<bool(Json& progress)>;

class PartitionedScan {
public:
    PartitionedScan(std::string table, std::vector<std::string> keys, KeyRangeSpec range)
        : table_(std::move(table)), keys_(std::move(keys)), range_(std::move(range)) {}

    // Whether this batch works partition by partition: it has a partition,
    // or the progress already lists the partitions.
    static bool in_partitions(const BatchContext& ctx);
    // The first batch of the update as a whole: when the table is
    // partitioned, lists its partitions into the progress (keeping the
    // fields of `base`, such as a state) and returns 0 items; nullopt when
    // the table is not partitioned. `done` as for run, when there is nothing
    // to scan (no partitions, or a fixed range over an empty table).
    std::optional<int64_t> plan(BatchContext& ctx, const Json& base, const AllPartitionsDone& done);
    // A batch of ctx.partition, or, for the update as a whole, the check
    // whether every partition is finished.
    int64_t run(BatchContext& ctx, const PartitionWork& work, const AllPartitionsDone& done);

private:
    // Why a listed partition is no longer one of the table's.
    std::string why_gone(Engine& engine, const std::string& partition);
    std::vector<PartitionNode> tree_or_fail(Engine& engine, const std::string& update_name);

    std::string table_;
    std::vector<std::string> keys_;
    KeyRangeSpec range_;
};

}  // namespace bgupdate
