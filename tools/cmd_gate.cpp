// check and wait: startup gating. An application (or its service manager)
// runs `bgupdate check --code-version N --update NAME…` before starting, or
// `bgupdate wait …` to block until the database is ready for it. With a
// mapping (--db main=URL --db state=URL) every physical database must be
// ready and hold the logical databases the mapping gives it.
#include <fmt/core.h>
#include <fmt/format.h>

#include <chrono>
#include <memory>
#include <set>
#include <thread>

#include "commands.h"
#include "db_mapping.h"
#include "exit_codes.h"
#include "logical_databases.h"
#include "logical_record.h"
#include "output.h"
#include "terminal_text.h"

namespace bgtool {
namespace {

struct Verdict {
    int code = kOk;
    bool hopeless = false;  // waiting cannot help: a failed update, or code older than the compat version
    std::string summary;
    bgupdate::Json json = bgupdate::Json::object();
};

Verdict evaluate(Connection& db, const GateOptions& o) {
    Verdict v;
    bgupdate::SchemaState st = read_schema_state(db);
    bgupdate::Json schema = bgupdate::Json::object();
    if (st.version) schema.set("version", static_cast<int64_t>(*st.version)); else schema.set_null("version");
    if (st.compat_version) schema.set("compat_version", static_cast<int64_t>(*st.compat_version));
    else schema.set_null("compat_version");
    std::optional<std::string> problem;
    if (o.code_version) {
        schema.set("code_version", static_cast<int64_t>(*o.code_version));
        if (auto why = bgupdate::schema_incompatibility(st, *o.code_version)) {
            problem = *why;
            v.hopeless = true;
        }
        else if (!st.version || *st.version < *o.code_version)
            problem = fmt::format("the database schema is at version {}, older than this code's {}: run migrate first",
                                  st.version ? std::to_string(*st.version) : "none", *o.code_version);
    }
    schema.set_bool("ok", !problem);
    if (problem) schema.set("problem", *problem); else schema.set_null("problem");
    v.json.set("schema", schema);

    Result s = read_status(db);
    std::vector<std::string> remaining, failed;
    auto consider = [&](size_t r) {
        std::string name = show(s.get(r, "update_name")), state = show(s.get(r, "state"));
        if (state == "failed") failed.push_back(name);
        else if (state != "complete") remaining.push_back(name);
    };
    if (o.updates.empty()) {
        for (size_t r = 0; r < s.rows.size(); ++r) consider(r);
    } else {
        for (auto& want : o.updates)  // an update not in the status at all has completed (Synapse's rule)
            for (size_t r = 0; r < s.rows.size(); ++r)
                if (show(s.get(r, "update_name")) == want) consider(r);
    }
    bool enabled = Connection::truthy(db.query("SELECT " + db.fn("enabled") + "()").rows.at(0).at(0));
    v.json.set_bool("enabled", enabled);
    v.json.set("remaining", bgupdate::string_array(remaining));
    v.json.set("failed", bgupdate::string_array(failed));

    if (problem) {
        v.code = kIncompatible;
        v.summary = *problem;
    } else if (!failed.empty()) {
        v.code = kBlocked;
        v.hopeless = true;
        v.summary = fmt::format("failed: {} (retry with 'bgupdate retry NAME')", fmt::join(failed, ", "));
    } else if (!remaining.empty()) {
        v.code = kRemaining;
        v.summary = fmt::format("not finished: {}{}", fmt::join(remaining, ", "),
                                enabled ? "" : " (background updates are disabled)");
    } else {
        v.summary = "ready";
    }
    v.json.set_bool("ready", v.code == kOk);
    v.json.set("exit_code", static_cast<int64_t>(v.code));
    v.json.set("summary", v.summary);
    return v;
}

// One physical database to gate on: plain (label "") or part of a mapping.
struct Gated {
    PhysicalDatabase physical;
    std::unique_ptr<Connection> db;
};

int severity(int code) {
    switch (code) {
        case kIncompatible: return 3;
        case kBlocked: return 2;
        case kRemaining: return 1;
        default: return 0;
    }
}

// The verdict over every database: the worst one decides; waiting cannot
// help once any of them is hopeless.
Verdict evaluate_all(std::vector<Gated>& gated, const GateOptions& o, const std::set<std::string>& every) {
    if (gated.size() == 1 && gated.front().physical.logical.empty()) return evaluate(*gated.front().db, o);
    Verdict all;
    bgupdate::Json databases = bgupdate::Json::array();
    std::vector<std::string> parts;
    for (auto& g : gated) {
        Verdict v = evaluate(*g.db, o);
        auto recorded = read_logical_record(*g.db);
        if (auto why = bgupdate::logical_database_conflict(recorded, bgupdate::logical_record_of(g.physical.logical),
                                                           every)) {
            v.code = kIncompatible;
            v.hopeless = true;
            v.summary = *why;
            v.json.set("exit_code", static_cast<int64_t>(v.code));
            v.json.set_bool("ready", false);
            v.json.set("summary", v.summary);
        }
        v.json.set("database", g.physical.label());
        databases.append(v.json);
        parts.push_back(g.physical.label() + ": " + v.summary);
        if (severity(v.code) > severity(all.code)) all.code = v.code;
        all.hopeless = all.hopeless || v.hopeless;
    }
    all.summary = fmt::format("{}", fmt::join(parts, "; "));
    all.json.set("databases", databases);
    all.json.set_bool("ready", all.code == kOk);
    all.json.set("exit_code", static_cast<int64_t>(all.code));
    all.json.set("summary", all.summary);
    return all;
}

std::vector<Gated> open_all(const Common& c, const DbMapping& mapping) {
    std::vector<Gated> out;
    for (auto& p : mapping.databases) {
        ConnectOptions connect = c.connect;
        connect.db = p.url;
        out.push_back({p, open_connection(connect)});
    }
    return out;
}

int report(const Common& c, const Verdict& v) {
    if (c.json) print_json(v.json);
    else fmt::print("{}\n", for_terminal(v.summary));
    return v.code;
}

}  // namespace

int cmd_check(const Common& c, const GateOptions& o) {
    DbMapping mapping = parse_db_mapping(c.dbs);
    auto gated = open_all(c, mapping);
    return report(c, evaluate_all(gated, o, mapping.every_logical()));
}

int cmd_wait(const Common& c, const GateOptions& o) {
    DbMapping mapping = parse_db_mapping(c.dbs);
    auto gated = open_all(c, mapping);
    auto start = std::chrono::steady_clock::now();
    std::string last;
    for (;;) {
        Verdict v = evaluate_all(gated, o, mapping.every_logical());
        // Ready, or waiting cannot help: a failed update needs retry, old code needs new code.
        if (v.code == kOk || v.hopeless) return report(c, v);
        double waited = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
        if (o.timeout && waited >= *o.timeout) {
            v.summary = fmt::format("gave up after {}: {}", fmt_duration(*o.timeout), v.summary);
            v.json.set("summary", v.summary);
            v.json.set_bool("timed_out", true);
            return report(c, v);
        }
        if (!c.json && v.summary != last) fmt::print(stderr, "waiting: {}\n", for_terminal(v.summary));
        last = v.summary;
        std::this_thread::sleep_for(std::chrono::duration<double>(o.interval));
    }
}

}  // namespace bgtool
