// The tool's commands. Each returns an exit code (exit_codes.h); errors are
// thrown (bgupdate::Error for bad input, DbError from the database).
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "connection.h"
#include "schema_migration.h"

namespace bgtool {

struct Common {
    std::vector<std::string> dbs;  // the --db arguments (db_mapping.h)
    ConnectOptions connect;        // connect.db: the one database of single-database commands
    bool json = false;
};

struct MigrateOptions {
    std::vector<std::string> directories;
    std::optional<long long> target_version, compat_version;
    bool stop_on_python = false;
    bool dry_run = false;
};
int cmd_migrate(const Common& c, const MigrateOptions& o);

struct RunOptions {
    std::optional<double> max_seconds;
    bool sleep = false;         // Synapse's offline mode runs without sleeps
    double interval = 5.0;      // seconds between plain progress lines when not on a terminal
    std::string progress = "auto";  // auto, bar, plain, none
};
int cmd_run(const Common& c, const RunOptions& o);

int cmd_status(const Common& c);
int cmd_estimate(const Common& c, const std::vector<std::string>& names);
// finish, pause, resume, retry: one SQL function per named update.
int cmd_update_action(const Common& c, const std::string& action, const std::vector<std::string>& names);
int cmd_set_enabled(const Common& c, bool on);

struct GateOptions {
    std::optional<long long> code_version;  // the application's schema version
    std::vector<std::string> updates;       // required updates (empty: all)
    std::optional<double> timeout;          // wait: give up after this many seconds
    double interval = 1.0;                  // wait: seconds between checks
};
int cmd_check(const Common& c, const GateOptions& o);
int cmd_wait(const Common& c, const GateOptions& o);

struct SnapshotCommandOptions {
    std::string out;                // DIR: the file goes to DIR/full_schemas/<version>/full.sql.<engine>
    std::string pg_dump;            // explicit pg_dump
    int64_t max_table_rows = 1000;  // more rows in a table: application data, refused
    bool force = false;             // replace an existing file
};
int cmd_snapshot(const Common& c, const SnapshotCommandOptions& o);

struct PortOptions {
    std::string from;                    // the application's SQLite database
    std::string to;                      // a PostgreSQL database migrated to the same version
    int64_t batch_size = 5000;           // rows per batch (one transaction each)
    int64_t pause_ms = 0;                // between batches, to spare a busy server
    std::string progress = "auto";       // auto, bar, plain, none
    double interval = 5.0;               // seconds between plain progress lines
    std::vector<std::string> sequences;  // SEQUENCE=TABLE.COLUMN[,TABLE.COLUMN…]: sequences drawn from by code
};
int cmd_port(const Common& c, const PortOptions& o);

// Shared: what the database says about its schema.
bgupdate::SchemaState read_schema_state(Connection& db);

// Shared: the status rows (PostgreSQL view / SQLite table-valued function).
Result read_status(Connection& db);
extern const std::vector<std::string> kStatusTextColumns;

}  // namespace bgtool
