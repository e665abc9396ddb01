#include "logical_databases.h"

#include "errors.h"

namespace bgupdate {
namespace {

std::string joined(const std::set<std::string>& names) {
    std::string out;
    for (auto& n : names) out += (out.empty() ? "" : ", ") + n;
    return out;
}

std::set<std::string> expand(const std::set<std::string>& record, const std::optional<std::set<std::string>>& every) {
    if (!every || !record.count(kEveryLogicalDatabase)) return record;
    return *every;
}

}  // namespace

std::set<std::string> logical_databases_of(const std::vector<SchemaDirectory>& directories) {
    std::set<std::string> out;
    for (auto& d : directories)
        if (d.label != kCommonLogicalDatabase) out.insert(d.label);
    return out;
}

std::set<std::string> logical_record_of(const std::set<std::string>& names) {
    std::set<std::string> out = names;
    if (out.size() > 1) out.erase(kCommonLogicalDatabase);
    if (out.count(kEveryLogicalDatabase)) return {kEveryLogicalDatabase};
    return out;
}

std::vector<SchemaDirectory> directories_for(const std::vector<SchemaDirectory>& directories,
                                             const std::set<std::string>& record) {
    if (record.count(kEveryLogicalDatabase)) return directories;
    std::vector<SchemaDirectory> out;
    for (auto& d : directories)
        if (d.label == kCommonLogicalDatabase || record.count(d.label)) out.push_back(d);
    return out;
}

void check_logical_mapping(const std::vector<std::set<std::string>>& physical,
                           const std::vector<SchemaDirectory>& directories) {
    std::set<std::string> defined = logical_databases_of(directories), placed;
    for (auto& names : physical)
        for (auto& n : names) {
            if (n == kCommonLogicalDatabase) continue;
            if (!defined.count(n))
                bad_input("no schema directory for the logical database '" + n + "' (the directories define " +
                          (defined.empty() ? std::string("none") : joined(defined)) + ")");
            if (!placed.insert(n).second) bad_input("the logical database '" + n + "' is given twice");
        }
    for (auto& n : defined)
        if (!placed.count(n))
            bad_input("the logical database '" + n + "' (schema directory " + n +
                      ") has no physical database: add --db " + n + "=URL");
}

std::optional<std::string> logical_database_conflict(const std::set<std::string>& recorded,
                                                     const std::set<std::string>& requested,
                                                     const std::optional<std::set<std::string>>& every) {
    if (recorded.empty()) return std::nullopt;
    if (expand(recorded, every) == expand(requested, every)) return std::nullopt;
    return "this database holds " + describe_logical_record(recorded) +
           " (recorded when it was first migrated), but this run would use it for " +
           describe_logical_record(requested) +
           ": a logical database stays in the physical database it was first migrated into";
}

std::string describe_logical_record(const std::set<std::string>& record) {
    if (record.count(kEveryLogicalDatabase)) return "every logical database";
    return (record.size() == 1 ? "the logical database " : "the logical databases ") + joined(record);
}

}  // namespace bgupdate
