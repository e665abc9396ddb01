#include "target_table.h"

#include <set>

#include "engine.h"
#include "json.h"
#include "partitions.h"

namespace bgupdate {

std::optional<std::string> target_table(const Registration& reg) {
    if (reg.kind == HandlerKind::Generic) return std::nullopt;
    try {
        Json spec = Json::parse_object(reg.spec_json, "handler spec of background update '" + reg.update_name + "'");
        return spec.get_string("table");
    } catch (...) {
        return std::nullopt;  // unreadable: unknown, so it runs alone (the batch reports the problem)
    }
}

std::optional<std::string> target_relation(const Registration& reg) {
    auto table = target_table(reg);
    if (!table) return std::nullopt;
    return relation_of(*table);
}

Registration with_pinned_table(Engine& engine, const Registration& reg) {
    if (reg.kind == HandlerKind::Generic || reg.kind == HandlerKind::Application) return reg;
    Json spec = Json::parse_object(reg.spec_json, "handler spec of background update '" + reg.update_name + "'");
    auto table = spec.get_string("table");
    auto pin = spec.get_string("table_pin");
    if (!table || !pin) return reg;
    std::string now = engine.pinned_table(*table, *pin);
    if (now == *table) return reg;
    Registration out = reg;
    spec.set("table", now);
    out.spec_json = spec.dump();
    return out;
}

int parallel_width(const std::vector<std::optional<std::string>>& targets) {
    std::set<std::string> tables;
    bool unknown = false;
    for (auto& t : targets) {
        if (t) tables.insert(*t);
        else unknown = true;
    }
    if (!tables.empty()) return static_cast<int>(tables.size());
    return unknown ? 1 : 0;
}

}  // namespace bgupdate
