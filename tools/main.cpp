// bgupdate: apply schema migrations as Synapse does and drive background
// updates from a shell, on PostgreSQL (libpq) or SQLite (the extension
// loaded on the connection). See README "The command-line tool".
#include <CLI/CLI.hpp>
#include <fmt/core.h>
#include <fmt/format.h>

#include <cstdlib>

#include "cli_checks.h"
#include "commands.h"
#include "db_mapping.h"
#include "errors.h"
#include "exit_codes.h"
#include "version.h"
#include "terminal_text.h"

using namespace bgtool;

int main(int argc, char** argv) {
    CLI::App app{"bgupdate: background database migrations on PostgreSQL and SQLite.\n"
                 "Exit codes: 0 done, 1 error, 2 usage, 3 updates remain, 4 updates failed or blocked,\n"
                 "5 schema incompatible with the code version, 6 migrate stopped before a Python delta."};
    app.set_version_flag("--version", std::string("bgupdate ") + bgupdate::version(), "print the version and exit");
    app.require_subcommand(1);
    Common common;

    auto with_db = [&](CLI::App* cmd) {
        cmd->add_option("--db", common.dbs,
                        "database: postgresql://…, sqlite:///path or a path ($BGUPDATE_DB); migrate, status, "
                        "check and wait also take NAME=URL once per logical database (--db main=URL --db state=URL)")
            ->allow_extra_args(false);  // one value per --db: the schema directories follow
        cmd->add_option("--extension", common.connect.sqlite_extension,
                        "the SQLite extension to load (default: the build tree's, else the installed 'bgupdate')");
        cmd->add_flag("--json", common.json, "print JSON instead of text");
        return cmd;
    };

    MigrateOptions mig;
    auto* migrate = with_db(app.add_subcommand("migrate", "apply a schema: snapshot on an empty database, then deltas"));
    migrate->add_option("dirs", mig.directories, "schema directories (Synapse: synapse/storage/schema)")->required();
    migrate->add_option("--target", mig.target_version, "schema version to reach (default: the newest found)")
        ->check(schema_version());
    migrate->add_option("--compat-version", mig.compat_version,
                        "oldest code version that may use the result (Synapse's SCHEMA_COMPAT_VERSION)")
        ->check(schema_version());
    migrate->add_flag("--stop-on-python", mig.stop_on_python, "stop before a .py delta instead of skipping it");
    migrate->add_flag("--dry-run", mig.dry_run, "show the plan, change nothing");

    RunOptions run;
    auto* run_cmd = with_db(app.add_subcommand("run", "run background updates to completion (offline, no sleeps)"));
    run_cmd->add_option("--max-seconds", run.max_seconds, "stop after this many seconds (exit 3 if work remains)")
        ->check(non_negative_seconds());
    run_cmd->add_flag("--sleep", run.sleep, "pause between batches as configured (sleep_duration_ms)");
    run_cmd->add_option("--progress", run.progress, "auto (bars on a terminal), bar, plain or none")
        ->check(CLI::IsMember({"auto", "bar", "plain", "none"}));
    run_cmd->add_option("--interval", run.interval, "seconds between plain progress lines")
        ->check(positive_seconds());

    auto* status = with_db(app.add_subcommand("status", "show every known background update"));
    std::vector<std::string> names;
    auto* estimate = with_db(app.add_subcommand("estimate", "estimate time left: one trial batch, rolled back"));
    estimate->add_option("updates", names, "update names (default: every queued update)");

    std::vector<std::pair<std::string, CLI::App*>> actions;
    for (auto [name, help] : {std::pair<const char*, const char*>{"finish", "run the named updates to completion now"},
                              {"pause", "pause the named updates"},
                              {"resume", "resume the named updates"},
                              {"retry", "retry failed updates (clears the failure count)"}}) {
        auto* cmd = with_db(app.add_subcommand(name, help));
        cmd->add_option("updates", names, "update names")->required();
        actions.push_back({name, cmd});
    }
    auto* enable = with_db(app.add_subcommand("enable", "let background updates run (the admin switch)"));
    auto* disable = with_db(app.add_subcommand("disable", "stop background updates from running"));

    SnapshotCommandOptions snap;
    auto* snapshot = with_db(app.add_subcommand(
        "snapshot", "write DIR/full_schemas/<version>/full.sql.<engine> from a database whose updates are all done"));
    snapshot->add_option("--out", snap.out, "the schema directory to write into")->required();
    snapshot->add_option("--pg-dump", snap.pg_dump, "the pg_dump to use (default: the server's, else PATH's)");
    snapshot->add_option("--max-table-rows", snap.max_table_rows,
                         "refuse a table with more rows (a snapshot carries the schema's rows, not data)")
        ->check(CLI::NonNegativeNumber);
    snapshot->add_flag("--force", snap.force, "replace an existing snapshot file");

    PortOptions port;
    auto* port_cmd = app.add_subcommand("port", "copy an application's SQLite database into a migrated PostgreSQL one");
    port_cmd->add_option("--from", port.from, "the SQLite database (sqlite:///path or a path)")->required();
    port_cmd->add_option("--to", port.to, "the PostgreSQL database, migrated to the same schema version")->required();
    port_cmd->add_option("--extension", common.connect.sqlite_extension, "the SQLite extension to load");
    port_cmd->add_flag("--json", common.json, "print JSON instead of text");
    port_cmd->add_option("--batch-size", port.batch_size, "rows per batch, each its own transaction")
        ->check(CLI::PositiveNumber);
    port_cmd->add_option("--pause-ms", port.pause_ms, "pause between batches")->check(CLI::NonNegativeNumber);
    port_cmd->add_option("--progress", port.progress, "auto (bars on a terminal), bar, plain or none")
        ->check(CLI::IsMember({"auto", "bar", "plain", "none"}));
    port_cmd->add_option("--interval", port.interval, "seconds between plain progress lines")->check(CLI::PositiveNumber);
    port_cmd->add_option("--sequence", port.sequences,
                         "SEQUENCE=TABLE.COLUMN[,TABLE.COLUMN…]: move a sequence the application draws ids from past "
                         "those columns (repeatable)")
        ->allow_extra_args(false);

    GateOptions gate;
    auto gate_options = [&](CLI::App* cmd) {
        cmd->add_option("--code-version", gate.code_version,
                        "the application's schema version: the database must be migrated to it and not need newer code")
            ->check(schema_version());
        cmd->add_option("--update", gate.updates, "an update that must be complete (repeatable; default: all)");
        return cmd;
    };
    auto* check = gate_options(with_db(app.add_subcommand("check", "exit 0 if the database is ready for the application")));
    auto* wait = gate_options(with_db(app.add_subcommand("wait", "wait until the database is ready for the application")));
    wait->add_option("--timeout", gate.timeout, "give up after this many seconds (exit 3)")->check(non_negative_seconds());
    wait->add_option("--interval", gate.interval, "seconds between checks")->check(positive_seconds());

    // A mistyped command is named as such (CLI11 would say "A subcommand is required").
    std::vector<std::string> commands;
    for (const CLI::App* sub : app.get_subcommands([](CLI::App*) { return true; })) commands.push_back(sub->get_name());
    if (argc == 1) {
        fmt::print(stderr, "bgupdate: a command is required: {}\nRun with --help for more information.\n",
                   fmt::join(commands, ", "));
        return kUsage;
    }
    {
        std::string unknown = unknown_command_message(argv[1], commands);
        if (!unknown.empty()) {
            fmt::print(stderr, "bgupdate: {}\nRun with --help for more information.\n", unknown);
            return kUsage;
        }
    }

    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
        int rc = app.exit(e);
        return rc == 0 ? kOk : kUsage;
    }

    try {
        if (common.dbs.empty())
            if (const char* env = std::getenv("BGUPDATE_DB")) common.dbs.push_back(env);
        if (migrate->parsed()) return cmd_migrate(common, mig);
        if (port_cmd->parsed()) return cmd_port(common, port);
        if (status->parsed()) return cmd_status(common);
        if (check->parsed()) return cmd_check(common, gate);
        if (wait->parsed()) return cmd_wait(common, gate);
        common.connect.db = single_database(common.dbs);
        if (run_cmd->parsed()) return cmd_run(common, run);
        if (snapshot->parsed()) return cmd_snapshot(common, snap);
        if (estimate->parsed()) return cmd_estimate(common, names);
        for (auto& [name, cmd] : actions)
            if (cmd->parsed()) return cmd_update_action(common, name, names);
        if (enable->parsed()) return cmd_set_enabled(common, true);
        if (disable->parsed()) return cmd_set_enabled(common, false);
    } catch (const UsageError& e) {
        fmt::print(stderr, "bgupdate: error: {}\n", e.what());
        return kUsage;
    } catch (const bgupdate::Error& e) {
        fmt::print(stderr, "bgupdate: error: {}\n", for_terminal(e.what()));
        return kError;
    } catch (const DbError& e) {
        fmt::print(stderr, "bgupdate: error: {}\n", for_terminal(e.what()));
        return kError;
    } catch (const std::exception& e) {
        fmt::print(stderr, "bgupdate: error: {}\n", for_terminal(e.what()));
        return kError;
    }
    return kUsage;
}
