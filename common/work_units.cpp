#include "work_units.h"

#include "partitions.h"
#include "target_table.h"

namespace bgupdate {

namespace {
constexpr char kPartitionSeparator = '\x1f';

bool works_partition_by_partition(HandlerKind kind, const Json& progress) {
    if (!progress.at("partitions").is_object()) return false;
    if (kind == HandlerKind::BatchedUpdate) return true;
    // Its last step validates the constraint on the table as a whole.
    if (kind == HandlerKind::ValidateConstraintAndDeleteRows)
        return progress.get_string("state").value_or("check") == "check";
    return false;
}
}  // namespace

bool partition_finished(const Json& entry) { return entry.at("done").is_true() || entry.has("gone"); }

std::vector<WorkUnit> work_units_of_unregistered() { return {WorkUnit{"", std::nullopt, std::nullopt}}; }

std::vector<WorkUnit> work_units(const Registration& reg, const std::string& progress_json) {
    std::vector<WorkUnit> whole{WorkUnit{"", target_relation(reg), std::nullopt}};
    if (reg.kind != HandlerKind::BatchedUpdate && reg.kind != HandlerKind::ValidateConstraintAndDeleteRows) return whole;
    Json progress;
    try {
        progress = Json::parse_object(progress_json, "progress");
    } catch (...) {
        return whole;  // the batch reports malformed progress
    }
    if (!works_partition_by_partition(reg.kind, progress)) return whole;
    auto parent = target_relation(reg);
    Json parts = progress.at("partitions");
    std::vector<WorkUnit> out;
    for (auto& name : parts.keys()) {
        if (partition_finished(parts.at(name.c_str()))) continue;
        out.push_back(WorkUnit{name, relation_of(name), parent});
    }
    // Every partition finished (the batch that finished the last one is
    // committing): the whole update, whose batch sees that and moves on.
    return out.empty() ? whole : out;
}

std::string claim_key(const std::string& update_name, const WorkUnit& unit) {
    if (unit.partition.empty()) return update_name;
    return update_name + kPartitionSeparator + unit.partition;
}

std::string update_of_claim_key(const std::string& key) {
    auto sep = key.find(kPartitionSeparator);
    return sep == std::string::npos ? key : key.substr(0, sep);
}

std::string describe_claim_key(const std::string& key) {
    auto sep = key.find(kPartitionSeparator);
    if (sep == std::string::npos) return key;
    return key.substr(0, sep) + " (partition " + key.substr(sep + 1) + ")";
}

}  // namespace bgupdate
