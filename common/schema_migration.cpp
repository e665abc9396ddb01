#include "schema_migration.h"

#include <algorithm>

#include "errors.h"

namespace bgupdate {
namespace {

bool ends_with(const std::string& s, const std::string& tail) {
    return s.size() >= tail.size() && s.compare(s.size() - tail.size(), tail.size(), tail) == 0;
}

// A file together with where it came from, for sorting across directories.
struct Entry {
    const SchemaFile* file;
    const std::string* directory;
};

std::vector<Entry> files_of_version(const std::vector<SchemaDirectory>& dirs, int64_t version, bool snapshots) {
    std::vector<Entry> out;
    for (auto& d : dirs) {
        auto& by_version = snapshots ? d.snapshots : d.deltas;
        auto it = by_version.find(version);
        if (it == by_version.end()) continue;
        for (auto& f : it->second) out.push_back({&f, &d.label});
    }
    // Synapse sorts (file name, path): deltas of one version are meant to be
    // independent, but a fixed order keeps every database the same.
    std::sort(out.begin(), out.end(), [](const Entry& a, const Entry& b) {
        return a.file->name != b.file->name ? a.file->name < b.file->name : a.file->path < b.file->path;
    });
    return out;
}

}  // namespace

DeltaFileKind classify_schema_file(const std::string& name, Dialect::Kind engine) {
    const std::string mine = engine == Dialect::Kind::Postgres ? ".sql.postgres" : ".sql.sqlite";
    const std::string other = engine == Dialect::Kind::Postgres ? ".sql.sqlite" : ".sql.postgres";
    if (ends_with(name, ".sql") || ends_with(name, mine)) return DeltaFileKind::Sql;
    if (ends_with(name, other)) return DeltaFileKind::OtherEngine;
    if (ends_with(name, ".py")) return DeltaFileKind::Python;
    if (ends_with(name, ".pyc") || name == "__pycache__" || name.empty() || name[0] == '.' ||
        ends_with(name, ".md") || ends_with(name, ".txt") || name == "README")
        return DeltaFileKind::Ignored;
    return DeltaFileKind::Unknown;
}

const char* step_kind_name(StepKind kind) {
    switch (kind) {
        case StepKind::Snapshot: return "snapshot";
        case StepKind::SetVersion: return "set_version";
        case StepKind::Delta: return "delta";
        case StepKind::SkipPython: return "skip_python";
        case StepKind::StopPython: return "stop_python";
        case StepKind::OtherEngine: return "other_engine";
    }
    return "?";
}

bool MigrationPlan::changes_anything() const {
    for (auto& s : steps)
        if (s.kind != StepKind::OtherEngine) return true;
    return false;
}

std::optional<std::string> schema_incompatibility(const SchemaState& state, int64_t code_version) {
    if (!state.compat_version || *state.compat_version <= code_version) return std::nullopt;
    return "the database schema (version " + (state.version ? std::to_string(*state.version) : std::string("?")) +
           ") needs code of version " + std::to_string(*state.compat_version) +
           " or newer, but this code is version " + std::to_string(code_version);
}

int64_t newest_schema_version(const std::vector<SchemaDirectory>& directories) {
    int64_t newest = 0;
    for (auto& d : directories) {
        for (auto& [v, files] : d.snapshots) if (!files.empty()) newest = std::max(newest, v);
        for (auto& [v, files] : d.deltas) if (!files.empty()) newest = std::max(newest, v);
    }
    return newest;
}

MigrationPlan plan_migration(const std::vector<SchemaDirectory>& dirs, const SchemaState& state,
                             const MigrationOptions& options) {
    std::set<int64_t> snapshot_versions, delta_versions;
    for (auto& d : dirs) {
        for (auto& [v, files] : d.snapshots) if (!files.empty()) snapshot_versions.insert(v);
        for (auto& [v, files] : d.deltas) if (!files.empty()) delta_versions.insert(v);
    }
    if (snapshot_versions.empty() && delta_versions.empty())
        bad_input("no schema files found: a schema directory holds full_schemas/<version>/ and "
                  "delta/<version>/ folders (or <version>/ folders of deltas)");

    MigrationPlan plan;
    plan.target_version = options.target_version.value_or(newest_schema_version(dirs));
    plan.from_version = state.version;
    const int64_t target = plan.target_version;
    if (target < 0) bad_input("the target version must not be negative");
    if (options.compat_version && *options.compat_version > target)
        bad_input("the compat version (" + std::to_string(*options.compat_version) +
                  ") must not be newer than the target version (" + std::to_string(target) + ")");
    // Old code on a newer schema: refuse before anything is planned.
    if (auto why = schema_incompatibility(state, target)) bad_input(*why + "; nothing was changed");

    int64_t start;  // first version whose deltas are due
    if (!state.version) {
        std::optional<int64_t> snap;
        for (int64_t v : snapshot_versions)
            if (v <= target) snap = v;
        if (!snapshot_versions.empty() && !snap)
            bad_input("no full schema snapshot at or below version " + std::to_string(target) +
                      " (the oldest is " + std::to_string(*snapshot_versions.begin()) + ")");
        if (snap) {
            plan.snapshot_version = snap;
            for (auto& e : files_of_version(dirs, *snap, true)) {
                switch (classify_schema_file(e.file->name, options.engine)) {
                    case DeltaFileKind::Sql:
                        plan.steps.push_back({StepKind::Snapshot, *snap, e.file->name, e.file->path, *e.directory});
                        break;
                    case DeltaFileKind::Unknown:
                        plan.warnings.push_back("not a schema file, ignored: " + *e.directory + " snapshot " +
                                                std::to_string(*snap) + "/" + e.file->name);
                        break;
                    default: break;  // the other engine's snapshot, README, ...
                }
            }
            start = *snap + 1;
        } else {
            start = delta_versions.empty() ? target : *delta_versions.begin();
        }
    } else {
        start = *state.version + (state.upgraded ? 0 : 1);
        if (*state.version > target)
            plan.warnings.push_back("the database is at version " + std::to_string(*state.version) +
                                    ", newer than the target " + std::to_string(target) +
                                    "; it is compatible (compat version " +
                                    std::to_string(state.compat_version.value_or(0)) + ")");
    }

    // The compat version only moves forward (Synapse updates it before any delta runs).
    int64_t base_compat = state.compat_version.value_or(
        state.version ? *state.version : plan.snapshot_version.value_or(std::min(start, target)));
    plan.compat_version = std::max(base_compat, options.compat_version.value_or(base_compat));
    plan.compat_version = std::min(plan.compat_version, std::max(target, state.version.value_or(0)));

    bool set_any = false;
    for (int64_t v = start; v <= target; ++v) {
        // A database already at v (reached by deltas) only gets v's new files.
        const bool reached = state.version && v == *state.version && state.upgraded;
        if (!reached) {
            plan.steps.push_back({StepKind::SetVersion, v, "", "", ""});
            set_any = true;
        }
        std::set<std::string> seen;
        for (auto& e : files_of_version(dirs, v, false)) {
            const std::string& name = e.file->name;
            if (!seen.insert(name).second)
                bad_input("two schema directories have a delta named '" + name + "' for version " +
                          std::to_string(v) + " (Synapse refuses this too)");
            std::string file = std::to_string(v) + "/" + name;
            bool done = state.applied.count(file) || state.skipped.count(file);
            switch (classify_schema_file(name, options.engine)) {
                case DeltaFileKind::Sql:
                    if (!done) plan.steps.push_back({StepKind::Delta, v, file, e.file->path, *e.directory});
                    break;
                case DeltaFileKind::Python:
                    if (!done)
                        plan.steps.push_back({options.stop_on_python ? StepKind::StopPython : StepKind::SkipPython, v,
                                              file, e.file->path, *e.directory});
                    break;
                case DeltaFileKind::OtherEngine:
                    // Listed once, with the version that passes over it (not
                    // again when a later run looks at the version reached).
                    if (!reached) plan.steps.push_back({StepKind::OtherEngine, v, file, e.file->path, *e.directory});
                    break;
                case DeltaFileKind::Unknown:
                    plan.warnings.push_back("not a delta file, ignored: " + *e.directory + " " + file);
                    break;
                case DeltaFileKind::Ignored: break;
            }
        }
    }
    // Nothing due, but the compat version must still move forward.
    if (!set_any && state.version && plan.compat_version != state.compat_version.value_or(-1))
        plan.steps.push_back({StepKind::SetVersion, *state.version, "", "", ""});
    for (auto& s : plan.steps)
        if (s.kind == StepKind::SetVersion)
            s.compat_version = std::max(std::min(plan.compat_version, s.version),
                                        std::min(state.compat_version.value_or(0), s.version));
    return plan;
}

std::string substitute_schema_placeholders(const std::string& sql, Dialect::Kind engine) {
    static const std::string placeholder = "$%AUTO_INCREMENT_PRIMARY_KEY%$";
    const std::string replacement = engine == Dialect::Kind::Postgres
                                        ? "BIGINT PRIMARY KEY GENERATED ALWAYS AS IDENTITY"
                                        : "INTEGER PRIMARY KEY AUTOINCREMENT";
    std::string out;
    size_t from = 0;
    for (size_t at; (at = sql.find(placeholder, from)) != std::string::npos; from = at + placeholder.size())
        out.append(sql, from, at - from).append(replacement);
    return out.append(sql, from, std::string::npos);
}

}  // namespace bgupdate
