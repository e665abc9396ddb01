// migrate: Synapse's schema workflow. Reads the schema directories, plans
// with the core (schema_migration.h), and runs the plan through the
// extension's SQL functions: the snapshot files in one transaction, then per
// version the schema version and each delta in its own transaction with its
// record. With a mapping of logical databases to physical ones
// (logical_databases.h) each physical database gets `common` and its own
// directories, after every one of them has been checked.
#include <fmt/core.h>

#include <functional>
#include <set>

#include "commands.h"
#include "db_mapping.h"
#include "errors.h"
#include "exit_codes.h"
#include "logical_databases.h"
#include "logical_record.h"
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

namespace {

// One physical database of the run.
struct Target {
    PhysicalDatabase physical;
    std::unique_ptr<Connection> db;
    std::set<std::string> record;    // what it holds according to this run ({"*"}: every logical database)
    std::set<std::string> recorded;  // what it recorded before (empty: nothing yet)
    std::vector<bgupdate::SchemaDirectory> dirs;
    bgupdate::SchemaState state;
    bgupdate::MigrationPlan plan;
};

struct Applied {
    int code = kOk;
    bgupdate::Json json = bgupdate::Json::object();
};

// Runs a plan on one database; `say` prints a line of text output.
Applied apply_plan(Connection& db, const bgupdate::MigrationPlan& plan, const bgupdate::SchemaState& state,
                   bool dry_run, const std::function<void(const std::string&)>& say) {
    for (auto& w : plan.warnings) fmt::print(stderr, "bgupdate: warning: {}\n", for_terminal(w));
    say(fmt::format("{}: schema version {} -> {} (compat {}){}", db.engine_name(),
                    state.version ? std::to_string(*state.version) : "none (empty database)", plan.target_version,
                    plan.compat_version, dry_run ? " [dry run]" : ""));

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
                if (!dry_run && !in_snapshot) { db.begin(); in_snapshot = true; }
                if (!dry_run)
                    db.query("SELECT " + db.fn("apply_schema_snapshot") + "(" + db.p(1, "bigint") + ", " + db.p(2) +
                                 ", " + db.p(3) + ")",
                             {Param::integer(s.version), Param::text(s.file), Param::text(read_file(s.path))});
                ++snapshots;
                say(fmt::format("snapshot  {}/full_schemas/{}/{}", s.directory, s.version, s.file));
                record(s, dry_run ? "planned" : "applied");
                continue;
            }
            if (in_snapshot) { db.commit(); in_snapshot = false; }
            switch (s.kind) {
                case bgupdate::StepKind::SetVersion:
                    if (!dry_run)
                        db.query("SELECT " + db.fn("set_schema_version") + "(" + db.p(1, "bigint") + ", " +
                                     db.p(2, "bigint") + ")",
                                 {Param::integer(s.version), Param::integer(s.compat_version)});
                    say(fmt::format("version   {} (compat {})", s.version, s.compat_version));
                    break;
                case bgupdate::StepKind::Delta:
                    if (!dry_run) {
                        try {
                            db.query("SELECT " + db.fn("apply_schema_delta") + "(" + db.p(1, "bigint") + ", " +
                                         db.p(2) + ", " + db.p(3) + ")",
                                     {Param::integer(s.version), Param::text(s.file), Param::text(read_file(s.path))});
                        } catch (const DbError& e) {
                            throw DbError(fmt::format("delta {} ({}) failed: {}", s.file, s.directory, e.what()));
                        }
                    }
                    ++applied;
                    say(fmt::format("applied   {} ({})", s.file, s.directory));
                    break;
                case bgupdate::StepKind::SkipPython:
                    if (!dry_run)
                        db.query("SELECT " + db.fn("skip_schema_delta") + "(" + db.p(1, "bigint") + ", " + db.p(2) +
                                     ", " + db.p(3) + ")",
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
                      : dry_run ? "planned" : "done");
            if (code != kOk) break;
        }
        if (in_snapshot) { db.commit(); in_snapshot = false; }
    } catch (...) {
        if (in_snapshot) try { db.rollback(); } catch (...) {}
        throw;
    }
    if (!stopped.empty()) fmt::print(stderr, "bgupdate: {}\n", for_terminal(stopped));

    bgupdate::SchemaState after = dry_run ? state : read_schema_state(db);
    say(fmt::format("{} snapshot file(s), {} delta(s) applied, {} Python delta(s) skipped, {} for the other engine; "
                    "schema version {}, compat {}",
                    snapshots, applied, skipped_py, other_engine,
                    after.version ? std::to_string(*after.version) : "none",
                    after.compat_version ? std::to_string(*after.compat_version) : "none"));
    Applied out;
    out.code = code;
    bgupdate::Json& j = out.json;
    j.set("engine", db.engine_name());
    j.set_bool("dry_run", dry_run);
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
    return out;
}

int refuse(const Common& c, const std::string& why) {
    if (c.json) {
        bgupdate::Json j = bgupdate::Json::object();
        j.set("exit_code", static_cast<int64_t>(kIncompatible));
        j.set("error", why + "; nothing was changed");
        print_json(j);
    }
    fmt::print(stderr, "bgupdate: error: {}; nothing was changed\n", for_terminal(why));
    return kIncompatible;
}

}  // namespace

int cmd_migrate(const Common& c, const MigrateOptions& o) {
    auto dirs = read_schema_directories(o.directories);
    DbMapping mapping = parse_db_mapping(c.dbs);
    const bool split = mapping.split();
    if (split) {
        std::vector<std::set<std::string>> placed;
        for (auto& p : mapping.databases) placed.push_back(p.logical);
        try {
            bgupdate::check_logical_mapping(placed, dirs);
        } catch (const bgupdate::Error& e) {
            throw UsageError(e.what());
        }
    }
    const std::set<std::string> every = bgupdate::logical_databases_of(dirs);
    auto named = [&](const Target& t, const std::string& text) {
        return split ? "database " + t.physical.label() + ": " + text : text;
    };

    // Nothing changes anywhere until every database has been checked.
    std::vector<Target> targets;
    for (auto& p : mapping.databases) {
        Target t;
        t.physical = p;
        ConnectOptions connect = c.connect;
        connect.db = p.url;
        connect.must_exist = false;  // migrating creates the database
        t.db = open_connection(connect);
        t.record = split ? bgupdate::logical_record_of(p.logical)
                         : std::set<std::string>{bgupdate::kEveryLogicalDatabase};
        t.recorded = read_logical_record(*t.db);
        if (auto why = bgupdate::logical_database_conflict(t.recorded, t.record, every)) return refuse(c, named(t, *why));
        t.dirs = bgupdate::directories_for(dirs, t.record);
        targets.push_back(std::move(t));
    }
    bgupdate::MigrationOptions mo;
    if (o.target_version) mo.target_version = *o.target_version;
    // Every physical database reaches the same version: the newest of all directories.
    else if (split) mo.target_version = bgupdate::newest_schema_version(dirs);
    if (o.compat_version) mo.compat_version = *o.compat_version;
    mo.stop_on_python = o.stop_on_python;
    for (auto& t : targets) {
        // First make Synapse's unqualified names reach bgupdate's tables (an
        // existing Synapse database's queue and schema state are adopted).
        if (!o.dry_run) t.db->query("SELECT " + t.db->fn("adopt_queue") + "()");
        t.state = read_schema_state(*t.db);
        if (o.target_version)
            if (auto why = bgupdate::schema_incompatibility(t.state, *o.target_version)) return refuse(c, named(t, *why));
        mo.engine = t.db->engine();
        t.plan = bgupdate::plan_migration(t.dirs, t.state, mo);
    }

    int code = kOk;
    bgupdate::Json all = bgupdate::Json::array();
    for (auto& t : targets) {
        auto say = [&](const std::string& line) {
            if (!c.json) fmt::print("{}{}\n", split ? "[" + t.physical.label() + "] " : "", for_terminal(line));
        };
        if (!o.dry_run && t.recorded.empty()) write_logical_record(*t.db, t.record);
        Applied a = apply_plan(*t.db, t.plan, t.state, o.dry_run, say);
        if (a.code != kOk) code = a.code;
        a.json.set("logical_databases", bgupdate::string_array(
            std::vector<std::string>(t.record.begin(), t.record.end())));
        if (!split) {
            if (c.json) print_json(a.json);
            return a.code;
        }
        a.json.set("database", t.physical.label());
        all.append(a.json);
    }
    if (c.json) {
        bgupdate::Json j = bgupdate::Json::object();
        j.set("databases", all);
        j.set("exit_code", static_cast<int64_t>(code));
        print_json(j);
    }
    return code;
}

}  // namespace bgtool
