#include "partitioned_scan.h"

#include "../dialect.h"
#include "../errors.h"
#include "../partitions.h"
#include "../work_units.h"

namespace bgupdate {

bool PartitionedScan::in_partitions(const BatchContext& ctx) {
    return !ctx.partition.empty() || ctx.progress.at("partitions").is_object();
}

std::vector<PartitionNode> PartitionedScan::tree_or_fail(Engine& engine, const std::string& update_name) {
    auto tree = engine.partition_tree(table_);
    if (tree.empty())
        fail(ErrorKind::Failure, "table '" + table_ + "' of background update '" + update_name +
                                     "' is no longer a partitioned table (dropped, or replaced) while the update "
                                     "worked through its partitions");
    return tree;
}

std::string PartitionedScan::why_gone(Engine& engine, const std::string& partition) {
    // Progress names a partition "schema.name" (a schema name holding a dot
    // would be split in the wrong place: then it reads as dropped).
    auto dot = partition.find('.');
    std::string schema = dot == std::string::npos ? "" : partition.substr(0, dot);
    std::string name = dot == std::string::npos ? partition : partition.substr(dot + 1);
    bool exists = !engine.query(engine.dialect().relation_exists_sql(schema, name)).empty();
    return exists ? "detached from " + table_ + " while the update ran: its rows are no longer the table's, so the "
                                                "update leaves them"
                  : "dropped while the update ran";
}

std::optional<int64_t> PartitionedScan::plan(BatchContext& ctx, const Json& base, const AllPartitionsDone& done) {
    Engine& engine = ctx.engine;
    const Dialect& d = engine.dialect();
    auto tree = engine.partition_tree(table_);
    if (tree.empty()) return std::nullopt;
    Json p = base.deep_copy();
    // The fixed range is the whole table's, captured once for every partition.
    if (!capture_range_end(engine, range_, d.table(table_), keys_, p)) {
        if (!done(p)) ctx.save_progress(p);
        return 0;
    }
    Json parts = Json::object();
    for (auto& leaf : leaf_partitions(tree)) parts.set(leaf.qualified().c_str(), Json::object());
    p.set("partitions", parts);
    if (range_.fixed || range_.min_key) {
        KeysetScope whole{d.table(table_), range_.min_key, range_end(range_, p, ctx.update_name)};
        ctx.total_estimate = rows_in_range(engine, whole.from, whole, keys_);
    }
    if (parts.keys().empty() && done(p)) return 0;
    ctx.save_progress(p);
    return 0;
}

int64_t PartitionedScan::run(BatchContext& ctx, const PartitionWork& work, const AllPartitionsDone& done) {
    Engine& engine = ctx.engine;
    const Dialect& d = engine.dialect();
    const std::string what = "progress of background update '" + ctx.update_name + "'";
    PartitionStep step;
    bool stepped = false;
    if (!ctx.partition.empty()) {
        // Afresh: the progress the runner read may predate another runner's
        // commit on this partition (it finished it before this one's claim).
        auto row = ctx.store.queue_row(ctx.update_name);
        if (!row) return 0;
        Json progress = Json::parse_object(row->progress_json, what);
        Json entry = progress.at("partitions").at(ctx.partition.c_str());
        if (entry.is_null() || partition_finished(entry)) return 0;
        auto tree = tree_or_fail(engine, ctx.update_name);
        auto leaf = find_partition(tree, ctx.partition);
        if (!leaf || !leaf->leaf) {
            step.entry = entry.deep_copy();
            std::string why = why_gone(engine, ctx.partition);
            step.entry.set("gone", why);
            engine.log_event("background update '" + ctx.update_name + "': partition " + ctx.partition + " " + why);
        } else {
            KeysetScope scope{partition_as_parent(d, *leaf, table_), range_.min_key,
                              range_end(range_, progress, ctx.update_name)};
            step = work(*leaf, scope, entry);
        }
        stepped = true;
    }
    // Merge this partition's entry into the progress as it is now.
    auto locked = ctx.store.queue_row_locked(ctx.update_name);
    if (!locked) return step.items;
    Json now = Json::parse_object(locked->progress_json, what);
    Json parts = now.at("partitions");
    if (!parts.is_object()) return step.items;  // moved on already (a whole-update batch read it stale)
    if (stepped) parts.set(ctx.partition.c_str(), step.entry);
    bool all_finished = true;
    for (auto& name : parts.keys())
        if (!partition_finished(parts.at(name.c_str()))) all_finished = false;
    bool added = false;
    if (all_finished) {
        // Partitions attached or created since the list was made: covered too.
        for (auto& leaf : leaf_partitions(tree_or_fail(engine, ctx.update_name))) {
            if (parts.has(leaf.qualified().c_str())) continue;
            Json fresh = Json::object();
            fresh.set_bool("attached_during_run", true);
            parts.set(leaf.qualified().c_str(), fresh);
            added = true;
            engine.log_event("background update '" + ctx.update_name + "': partition " + leaf.qualified() +
                             " was attached while the update ran; it is covered too");
        }
    }
    // A partition found gone is recorded in a batch of its own (the history
    // keeps each batch's progress), so it is not the batch that moves on.
    bool reported_gone = stepped && step.entry.has("gone");
    if (all_finished && !added && !reported_gone && done(now)) return step.items;
    ctx.save_progress(now);
    return step.items;
}

}  // namespace bgupdate
