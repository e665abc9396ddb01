// snapshot: writes DIR/full_schemas/<version>/full.sql.<engine> from a
// database at that version, as Synapse's make_full_schema.sh does, once every
// background update has run (snapshot.h says what the file holds).
#include <fmt/core.h>
#include <fmt/format.h>

#include <filesystem>
#include <fstream>

#include "commands.h"
#include "errors.h"
#include "exit_codes.h"
#include "output.h"
#include "snapshot.h"

namespace fs = std::filesystem;

namespace bgtool {

int cmd_snapshot(const Common& c, const SnapshotCommandOptions& o) {
    auto db = open_connection(c.connect);
    bgupdate::SchemaState st = read_schema_state(*db);
    if (!st.version) bgupdate::bad_input("this database has no schema version (it was never migrated): nothing to snapshot");

    // A snapshot is made after every background update has run (Synapse's rule):
    // a new database made from it must not miss what they do.
    Result s = read_status(*db);
    std::vector<std::string> pending;
    for (size_t r = 0; r < s.rows.size(); ++r)
        if (show(s.get(r, "state")) != "complete") pending.push_back(show(s.get(r, "update_name")));
    if (!pending.empty()) {
        std::string why = fmt::format("background updates are not complete: {} (a snapshot is made once every update "
                                      "has run: bgupdate run); nothing was written", fmt::join(pending, ", "));
        if (c.json) {
            bgupdate::Json j = bgupdate::Json::object();
            j.set("exit_code", static_cast<int64_t>(kRemaining));
            j.set("error", why);
            j.set("pending", bgupdate::string_array(pending));
            print_json(j);
        }
        fmt::print(stderr, "bgupdate: {}\n", for_terminal(why));
        return kRemaining;
    }

    SnapshotOptions so;
    so.pg_dump = o.pg_dump;
    so.max_table_rows = o.max_table_rows;
    Snapshot snap = db->is_postgres() ? postgres_snapshot(*db, c.connect.db, so) : sqlite_snapshot(*db, so);
    if (!st.skipped.empty())
        snap.warnings.push_back(fmt::format("{} Python delta(s) were skipped on this database ({}): what they do is "
                                            "not in the snapshot", st.skipped.size(), fmt::join(st.skipped, ", ")));
    const char* suffix = db->is_postgres() ? "postgres" : "sqlite";
    fs::path dir = fs::path(o.out) / "full_schemas" / std::to_string(*st.version);
    fs::path file = dir / (std::string("full.sql.") + suffix);
    std::error_code ec;
    if (fs::exists(file, ec) && !o.force)
        bgupdate::bad_input(file.string() + " exists already (pass --force to replace it)");
    fs::create_directories(dir, ec);
    if (ec) bgupdate::bad_input("cannot create " + dir.string() + ": " + ec.message());
    std::string header = fmt::format("-- Full schema of version {} ({}), every background update complete: "
                                     "made by bgupdate snapshot.\n", *st.version, suffix);
    fs::path tmp = file;
    tmp += ".tmp";
    {
        std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
        out << header << snap.text;
        if (!out) bgupdate::bad_input("cannot write " + tmp.string());
    }
    fs::rename(tmp, file, ec);
    if (ec) bgupdate::bad_input("cannot write " + file.string() + ": " + ec.message());

    for (auto& w : snap.warnings) fmt::print(stderr, "bgupdate: warning: {}\n", for_terminal(w));
    if (c.json) {
        bgupdate::Json j = bgupdate::Json::object();
        j.set("file", file.string());
        j.set("engine", db->engine_name());
        j.set("version", static_cast<int64_t>(*st.version));
        j.set("statements", snap.statements);
        j.set("tables", snap.tables);
        j.set("rows", snap.rows);
        j.set("made_by", snap.made_by);
        j.set("warnings", bgupdate::string_array(snap.warnings));
        j.set("exit_code", static_cast<int64_t>(kOk));
        print_json(j);
    } else {
        fmt::print("wrote {}: schema version {}, {} statement(s), {} table(s), {} row(s) ({})\n", file.string(),
                   *st.version, snap.statements, snap.tables, snap.rows, snap.made_by);
    }
    return kOk;
}

}  // namespace bgtool
