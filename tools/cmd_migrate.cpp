// migrate: Synapse's schema workflow. Reads the schema directories, plans
// with the core (schema_migration.h), and runs the plan through the
// extension's SQL functions: the snapshot files in one transaction, then per
// version the schema version and each delta in its own transaction with its
// record.
#include <fmt/core.h>

#include "commands.h"
#include "errors.h"
#include "exit_codes.h"
#include "output.h"
#include "schema_reader.h"

namespace bgtool {

bgupdate::SchemaState read_schema_state(Connection& db) {
    bgupdate::SchemaState st;
    Result v = db.query("SELECT version, upgraded FROM " + db.schema_table("schema_version"));
    if (!v.rows.empty() && v.rows[0][0]) {
        st.version = std::stoll(*v.rows[0][0]);
        st.upgraded = Connection::truthy(v.rows[0][1]);
    }
    Result c = db.query("SELECT compat_version FROM " + db.schema_table("schema_compat_version"));
    if (!c.rows.empty() && c.rows[0][0]) st.compat_version = std::stoll(*c.rows[0][0]);
    for (auto& row : db.query("SELECT file FROM " + db.schema_table("applied_schema_deltas")).rows)
        if (row[0]) st.applied.insert(*row[0]);
    bool has_skipped = db.is_postgres() ||
                       !db.query("SELECT 1 FROM sqlite_master WHERE name = 'bgupdate_skipped_schema_deltas'").rows.empty();
    if (has_skipped)
        for (auto& row : db.query("SELECT file FROM " + db.fn("skipped_schema_deltas")).rows)
            if (row[0]) st.skipped.insert(*row[0]);
    return st;
}

int cmd_migrate(const Common& c, const MigrateOptions& o) {
    auto dirs = read_schema_directories(o.directories);
    ConnectOptions connect = c.connect;
    connect.must_exist = false;  // migrating creates the database
    auto db = open_connection(connect);
    // First make Synapse's unqualified names reach bgupdate's tables (an
    // existing Synapse database's queue and schema state are adopted).
    if (!o.dry_run) db->query("SELECT " + db->fn("adopt_queue") + "()");
    bgupdate::SchemaState state = read_schema_state(*db);

    bgupdate::MigrationOptions mo;
    mo.engine = db->engine();
    if (o.target_version) mo.target_version = *o.target_version;
    if (o.compat_version) mo.compat_version = *o.compat_version;
    mo.stop_on_python = o.stop_on_python;
    if (o.target_version)
        if (auto why = bgupdate::schema_incompatibility(state, *o.target_version)) {
            if (c.json) {
                bgupdate::Json j = bgupdate::Json::object();
                j.set("exit_code", static_cast<int64_t>(kIncompatible));
                j.set("error", *why + "; nothing was changed");
                print_json(j);
            }
            fmt::print(stderr, "bgupdate: error: {}; nothing was changed\n", for_terminal(*why));
            return kIncompatible;
        }
    bgupdate::MigrationPlan plan = bgupdate::plan_migration(dirs, state, mo);

    auto say = [&](const std::string& line) { if (!c.json) fmt::print("{}\n", for_terminal(line)); };
    for (auto& w : plan.warnings) fmt::print(stderr, "bgupdate: warning: {}\n", for_terminal(w));
    say(fmt::format("{}: schema version {} -> {} (compat {}){}", db->engine_name(),
                    state.version ? std::to_string(*state.version) : "none (empty database)", plan.target_version,
                    plan.compat_version, o.dry_run ? " [dry run]" : ""));

    bgupdate::Json steps = bgupdate::Json::array();
    int64_t snapshots = 0, applied = 0, skipped_py = 0, other_engine = 0;
    int code = kOk;
    std::string stopped;
    auto record = [&](const bgupdate::MigrationStep& s, const char* outcome) {
        bgupdate::Json j = bgupdate::Json::object();
        j.set("kind", bgupdate::step_kind_name(s.kind));
        j.set("version", s.version);
        if (!s.file.empty()) j.set("file", s.file);
        if (!s.directory.empty()) j.set("directory", s.directory);
        j.set("outcome", outcome);
        steps.append(j);
    };

    // The snapshot: all its files or none.
    bool in_snapshot = false;
    try {
        for (auto& s : plan.steps) {
            if (s.kind == bgupdate::StepKind::Snapshot) {
                if (!o.dry_run && !in_snapshot) { db->begin(); in_snapshot = true; }
                if (!o.dry_run)
                    db->query("SELECT " + db->fn("apply_schema_snapshot") + "(" + db->p(1, "bigint") + ", " + db->p(2) +
                                  ", " + db->p(3) + ")",
                              {Param::integer(s.version), Param::text(s.file), Param::text(read_file(s.path))});
                ++snapshots;
                say(fmt::format("snapshot  {}/full_schemas/{}/{}", s.directory, s.version, s.file));
                record(s, o.dry_run ? "planned" : "applied");
                continue;
            }
            if (in_snapshot) { db->commit(); in_snapshot = false; }
            switch (s.kind) {
                case bgupdate::StepKind::SetVersion:
                    if (!o.dry_run)
                        db->query("SELECT " + db->fn("set_schema_version") + "(" + db->p(1, "bigint") + ", " +
                                      db->p(2, "bigint") + ")",
                                  {Param::integer(s.version), Param::integer(s.compat_version)});
                    say(fmt::format("version   {} (compat {})", s.version, s.compat_version));
                    break;
                case bgupdate::StepKind::Delta:
                    if (!o.dry_run) {
                        try {
                            db->query("SELECT " + db->fn("apply_schema_delta") + "(" + db->p(1, "bigint") + ", " +
                                          db->p(2) + ", " + db->p(3) + ")",
                                      {Param::integer(s.version), Param::text(s.file), Param::text(read_file(s.path))});
                        } catch (const DbError& e) {
                            throw DbError(fmt::format("delta {} ({}) failed: {}", s.file, s.directory, e.what()));
                        }
                    }
                    ++applied;
                    say(fmt::format("applied   {} ({})", s.file, s.directory));
                    break;
                case bgupdate::StepKind::SkipPython:
                    if (!o.dry_run)
                        db->query("SELECT " + db->fn("skip_schema_delta") + "(" + db->p(1, "bigint") + ", " + db->p(2) +
                                      ", " + db->p(3) + ")",
                                  {Param::integer(s.version), Param::text(s.file),
                                   Param::text("a Python delta: bgupdate cannot run it; run it with the application's "
                                               "own migration code if it is needed")});
                    ++skipped_py;
                    say(fmt::format("skipped   {} ({}): a Python delta, recorded as skipped", s.file, s.directory));
                    break;
                case bgupdate::StepKind::StopPython:
                    stopped = fmt::format("stopped before {} ({}): a Python delta, which bgupdate cannot run "
                                          "(--stop-on-python)", s.file, s.directory);
                    code = kStoppedAtPython;
                    break;
                case bgupdate::StepKind::OtherEngine:
                    ++other_engine;
                    break;
                case bgupdate::StepKind::Snapshot: break;
            }
            record(s, s.kind == bgupdate::StepKind::OtherEngine ? "not for this engine"
                      : s.kind == bgupdate::StepKind::StopPython ? "stopped"
                      : o.dry_run ? "planned" : "done");
            if (code != kOk) break;
        }
        if (in_snapshot) { db->commit(); in_snapshot = false; }
    } catch (...) {
        if (in_snapshot) try { db->rollback(); } catch (...) {}
        throw;
    }
    if (!stopped.empty()) fmt::print(stderr, "bgupdate: {}\n", for_terminal(stopped));

    bgupdate::SchemaState after = o.dry_run ? state : read_schema_state(*db);
    say(fmt::format("{} snapshot file(s), {} delta(s) applied, {} Python delta(s) skipped, {} for the other engine; "
                    "schema version {}, compat {}",
                    snapshots, applied, skipped_py, other_engine,
                    after.version ? std::to_string(*after.version) : "none",
                    after.compat_version ? std::to_string(*after.compat_version) : "none"));
    if (c.json) {
        bgupdate::Json j = bgupdate::Json::object();
        j.set("engine", db->engine_name());
        j.set_bool("dry_run", o.dry_run);
        if (state.version) j.set("from_version", static_cast<int64_t>(*state.version)); else j.set_null("from_version");
        j.set("target_version", plan.target_version);
        if (plan.snapshot_version) j.set("snapshot_version", *plan.snapshot_version); else j.set_null("snapshot_version");
        if (after.version) j.set("version", static_cast<int64_t>(*after.version)); else j.set_null("version");
        if (after.compat_version) j.set("compat_version", static_cast<int64_t>(*after.compat_version));
        else j.set_null("compat_version");
        j.set("snapshot_files", snapshots);
        j.set("applied", applied);
        j.set("skipped_python", skipped_py);
        j.set("other_engine", other_engine);
        j.set("exit_code", static_cast<int64_t>(code));
        if (!stopped.empty()) j.set("stopped", stopped);
        j.set("warnings", bgupdate::string_array(plan.warnings));
        j.set("steps", steps);
        print_json(j);
    }
    return code;
}

}  // namespace bgtool
