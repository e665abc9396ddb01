// port: moves an application from SQLite to PostgreSQL (Synapse's
// synapse_port_db). The target is a PostgreSQL database migrated by the tool
// to the same schema version. Pending background updates are finished first,
// on the source and then on the (still empty) target, as Synapse's port
// script does, so that nothing changes the rows while they are copied and
// both sides end with the same queue, registrations and schema state. Then
// every table is copied in key order, one batch per transaction together
// with its progress row (bgupdate.port_progress), so a port killed at any
// moment resumes where it stopped; identity columns and sequences are moved
// past the copied rows; row counts are compared at the end.
#include <fmt/core.h>
#include <fmt/format.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <map>
#include <set>

#include "commands.h"
#include "db_mapping.h"
#include "errors.h"
#include "exit_codes.h"
#include "logical_record.h"
#include "output.h"
#include "port_display.h"
#include "port_plan.h"
#include "port_registrations.h"
#include "port_source.h"
#include "port_target.h"
#include "run_loop.h"

namespace bgtool {
namespace {

std::string join_names(const std::vector<std::string>& v) { return fmt::format("{}", fmt::join(v, ", ")); }

int refuse(const Common& c, int code, const std::string& why) {
    if (c.json) {
        bgupdate::Json j = bgupdate::Json::object();
        j.set("exit_code", static_cast<int64_t>(code));
        j.set("error", why + "; nothing was copied");
        print_json(j);
    }
    fmt::print(stderr, "bgupdate: error: {}; nothing was copied\n", for_terminal(why));
    return code;
}

// Copies what is left of one table, a batch per transaction together with
// its progress row `p` (which says where the last run stopped).
void copy_table(PortSource& source, PortTarget& target, const TablePlan& t, PortProgress p, bool first,
                const PortOptions& o, PortDisplay& display, int64_t& done_all, int64_t& copied_now) {
    display.table_started(t.target.name, p.rows, t.source_rows);
    SourceRow after = p.last_key ? key_from_json(*p.last_key) : SourceRow{};
    const size_t nkeys = t.source.key.size();
    for (;;) {
        auto rows = source.rows_after(t.source, after, o.batch_size);
        std::string data;
        for (auto& row : rows) {
            for (size_t i = 0; i < t.source_index.size(); ++i) {
                try {
                    data += bgupdate::copy_field(row[nkeys + t.source_index[i]], t.types[i]);
                } catch (const bgupdate::Error& e) {
                    SourceRow key(row.begin(), row.begin() + static_cast<long>(nkeys));
                    throw DbError(fmt::format("{}.{}, row with key {}: {}", t.source.name,
                                              t.source.columns[t.source_index[i]], key_json(key), e.what()));
                }
                data += i + 1 < t.source_index.size() ? '\t' : '\n';
            }
        }
        if (!rows.empty()) {
            after.assign(rows.back().begin(), rows.back().begin() + static_cast<long>(nkeys));
            p.last_key = key_json(after);
        }
        p.rows += static_cast<int64_t>(rows.size());
        p.done = static_cast<int64_t>(rows.size()) < o.batch_size;
        try {
            target.copy_batch(t.target, t.target_columns, data, p, first);
        } catch (const DbError& e) {
            throw DbError(fmt::format("copying {} (the batch after key {}): {}", t.target.name, key_json(after),
                                      e.what()));
        }
        first = false;
        done_all += static_cast<int64_t>(rows.size());
        copied_now += static_cast<int64_t>(rows.size());
        display.rows(p.rows, done_all, copied_now);
        if (p.done) break;
        if (o.pause_ms > 0) usleep(static_cast<useconds_t>(o.pause_ms) * 1000);
    }
    display.table_finished(done_all);
}

}  // namespace

int cmd_port(const Common& c, const PortOptions& o) {
    if (is_postgres_url(o.from)) throw UsageError("--from must name the application's SQLite database");
    if (!is_postgres_url(o.to)) throw UsageError("--to must name a PostgreSQL database (postgresql://… or key=value)");
    ConnectOptions from = c.connect, to = c.connect;
    from.db = o.from;
    to.db = o.to;
    auto src = open_connection(from);
    auto dst = open_connection(to);
    if (!Connection::truthy(dst->query("SELECT to_regclass('bgupdate.port_progress') IS NOT NULL").rows.at(0).at(0)))
        throw DbError("the bgupdate extension in the target is older than version 1.2 (no bgupdate.port_progress): "
                      "run ALTER EXTENSION bgupdate UPDATE");
    std::error_code ec;
    const std::string source_path = std::filesystem::weakly_canonical(sqlite_path_of(o.from), ec).string();

    // ---- Checks: nothing changes anywhere until the port is known to make sense.
    bgupdate::SchemaState ss = read_schema_state(*src), ts = read_schema_state(*dst);
    auto v = [](const std::optional<int64_t>& x) { return x ? std::to_string(*x) : std::string("none"); };
    if (!ss.version) return refuse(c, kIncompatible, "the source has no schema version (it was never migrated)");
    if (ss.version != ts.version)
        return refuse(c, kIncompatible, fmt::format("the target's schema version ({}) is not the source's ({}): migrate "
                                                     "the target with the same schema directories first (bgupdate migrate "
                                                     "--db TARGET DIRS --target {})", v(ts.version), v(ss.version),
                                                     v(ss.version)));
    auto src_logical = read_logical_record(*src), dst_logical = read_logical_record(*dst);
    if (!src_logical.empty() && !dst_logical.empty() && src_logical != dst_logical)
        return refuse(c, kIncompatible, "the source and the target hold different logical databases (" +
                                             join_names({src_logical.begin(), src_logical.end()}) + " / " +
                                             join_names({dst_logical.begin(), dst_logical.end()}) + ")");

    PortSource source(sqlite_path_of(o.from));
    PortTarget target(o.to);
    auto progress = target.progress();
    for (auto& [name, p] : progress)
        if (p.source != source_path)
            return refuse(c, kError, "the target holds a port from another database (" + p.source + "): port each "
                                      "application into a database of its own");
    const bool resuming = !progress.empty();

    PortPlan plan;
    try {
        plan = plan_port(source, target, o.sequences, !resuming);
    } catch (const PortRefusal& r) {
        return refuse(c, r.code, r.what());
    }
    std::vector<TablePlan>& plans = plan.tables;
    std::vector<std::string>& notes = plan.notes;
    std::vector<std::string> warnings;

    Progress::Mode run_mode = Progress::Mode::None;
    PortDisplay::Mode mode = PortDisplay::Mode::Plain;
    if (o.progress == "none" || (o.progress == "auto" && c.json)) mode = PortDisplay::Mode::None;
    else if (o.progress == "bar" || (o.progress == "auto" && isatty(STDOUT_FILENO))) mode = PortDisplay::Mode::Bar;
    auto say = [&](const std::string& line) { if (mode != PortDisplay::Mode::None) fmt::print("{}\n", for_terminal(line)); };
    for (auto& n : notes) say("note: " + n);

    // ---- Background updates: finished on the source, then on the target (its tables are still empty).
    RunOptions run;
    run.progress = "none";
    Progress quiet(stdout, run_mode, 1.0);
    bgupdate::Json updates = bgupdate::Json::object();
    if (auto why = cannot_finish_here(*src))
        return refuse(c, kBlocked, "pending background updates of the source cannot be finished first: " + *why);
    RunOutcome on_source = run_updates(*src, run, quiet);
    if (on_source.code != kOk)
        return refuse(c, kBlocked, "pending background updates of the source cannot be finished first: " + on_source.reason);
    if (!on_source.finished.empty())
        say(fmt::format("finished on the source first: {}", join_names(on_source.finished)));
    RegistrationsCarried regs = carry_registrations(*src, *dst);
    if (auto why = cannot_finish_here(*dst))
        return refuse(c, kBlocked, "the target's own pending background updates cannot be finished: " + *why);
    RunOutcome on_target = run_updates(*dst, run, quiet);
    if (on_target.code != kOk)
        return refuse(c, kBlocked, "the target's own pending background updates cannot be finished (its tables are "
                                    "still empty, so they have nothing to do but schema changes): " + on_target.reason);
    if (!on_target.finished.empty()) say(fmt::format("finished on the target: {}", join_names(on_target.finished)));
    updates.set("finished_on_source", bgupdate::string_array(on_source.finished));
    updates.set("finished_on_target", bgupdate::string_array(on_target.finished));
    updates.set("registrations_made", bgupdate::string_array(regs.registered));
    updates.set("registrations_kept", bgupdate::string_array(regs.kept));

    // ---- Rows, table by table, in foreign-key order.
    std::map<std::string, TablePlan*> by_name;
    std::vector<std::string> names;
    for (auto& p : plans) {
        by_name[p.target.name] = &p;
        names.push_back(p.target.name);
    }
    int64_t total = 0, done_all = 0, copied_now = 0;
    for (auto& p : plans) total += p.source_rows;
    for (auto& [n, p] : progress) done_all += p.rows;
    PortDisplay display(stdout, mode, o.interval, total, static_cast<int64_t>(plans.size()));
    auto start = std::chrono::steady_clock::now();
    bgupdate::Json sequences = bgupdate::Json::array();
    auto sequence_moved = [&](const std::string& seq, std::optional<int64_t> value, const std::string& why) {
        if (!value) return;
        bgupdate::Json j = bgupdate::Json::object();
        j.set("sequence", seq);
        j.set("value", *value);
        j.set("after", why);
        sequences.append(j);
    };
    for (auto& name : target.foreign_key_order(names)) {
        TablePlan& t = *by_name[name];
        std::string keys = key_json([&] {
            SourceRow r;
            for (auto& k : t.source.key) r.push_back(bgupdate::SourceValue::text(k));
            return r;
        }());
        PortProgress p;
        auto found = progress.find(t.target.name);
        bool first = found == progress.end();
        if (!first) {
            p = found->second;
            if (p.key_columns != keys)
                throw DbError("the recorded progress of " + t.target.name + " is by key " + p.key_columns +
                              " but the source's key is now " + keys + ": the source changed since the port started");
        }
        p.table = t.target.name;
        p.source = source_path;
        p.key_columns = keys;
        if (!p.done) copy_table(source, target, t, p, first, o, display, done_all, copied_now);
        // Identity and serial columns: past the copied rows (and past SQLite's AUTOINCREMENT high-water mark).
        for (auto& col : t.target.columns) {
            if (col.sequence.empty()) continue;
            std::optional<int64_t> high;
            if (!t.source.rowid_alias.empty() && t.target.column(t.source.rowid_alias) == &col)
                high = source.autoincrement_high(t.source.name);
            sequence_moved(col.sequence,
                           target.move_sequence_past(col.sequence, {{t.target.qualified, col.name}}, high),
                           t.target.name + "." + col.name);
        }
    }
    std::set<std::string> named_sequences;
    for (auto& n : plan.sequences) {
        sequence_moved(n.sequence, target.move_sequence_past(n.sequence, n.columns, std::nullopt), n.why);
        named_sequences.insert(n.sequence);
    }
    for (auto& seq : target.loose_sequences())
        if (!named_sequences.count(seq))
            warnings.push_back("sequence " + seq + " belongs to no column: its value was left as it was (if the "
                               "application draws ids from it, pass --sequence " + seq + "=TABLE.COLUMN)");

    // ---- Schema state: the compat version only moves forward.
    if (ss.compat_version && (!ts.compat_version || *ss.compat_version > *ts.compat_version))
        dst->query("UPDATE bgupdate.schema_compat_version SET compat_version = $1::int", {Param::integer(*ss.compat_version)});

    // ---- Every table's rows counted on both sides.
    bgupdate::Json tables = bgupdate::Json::array();
    std::vector<std::string> mismatched;
    int64_t rows_total = 0;
    for (auto& p : plans) {
        int64_t s = source.count(p.source.name), d = target.count(p.target);
        rows_total += d;
        if (s != d) mismatched.push_back(fmt::format("{} ({} in the source, {} in the target)", p.target.name, s, d));
        bgupdate::Json j = bgupdate::Json::object();
        j.set("table", p.target.name);
        j.set("source_rows", s);
        j.set("target_rows", d);
        j.set("key", bgupdate::string_array(p.source.key));
        tables.append(j);
    }
    double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    int code = mismatched.empty() ? kOk : kError;
    std::string result = mismatched.empty()
                             ? fmt::format("ported {} table(s), {} row(s) ({} copied by this run in {}); row counts "
                                           "match", plans.size(), rows_total, copied_now, fmt_duration(seconds))
                             : "row counts differ: " + join_names(mismatched);
    for (auto& w : warnings) fmt::print(stderr, "bgupdate: warning: {}\n", for_terminal(w));
    if (c.json) {
        bgupdate::Json j = bgupdate::Json::object();
        j.set("exit_code", static_cast<int64_t>(code));
        j.set("result", result);
        j.set_bool("resumed", resuming);
        j.set("rows", rows_total);
        j.set("rows_copied", copied_now);
        j.set("seconds", seconds);
        j.set("tables", tables);
        j.set("sequences", sequences);
        j.set("updates", updates);
        j.set("notes", bgupdate::string_array(notes));
        j.set("warnings", bgupdate::string_array(warnings));
        print_json(j);
    } else {
        display.message(result);
    }
    if (code != kOk) fmt::print(stderr, "bgupdate: error: {}\n", for_terminal(result));
    return code;
}

}  // namespace bgtool
