// check and wait: startup gating. An application (or its service manager)
// runs `bgupdate check --code-version N --update NAME…` before starting, or
// `bgupdate wait …` to block until the database is ready for it.
#include <fmt/core.h>
#include <fmt/format.h>

#include <chrono>
#include <thread>

#include "commands.h"
#include "exit_codes.h"
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

int report(const Common& c, const Verdict& v) {
    if (c.json) print_json(v.json);
    else fmt::print("{}\n", for_terminal(v.summary));
    return v.code;
}

}  // namespace

int cmd_check(const Common& c, const GateOptions& o) {
    auto db = open_connection(c.connect);
    return report(c, evaluate(*db, o));
}

int cmd_wait(const Common& c, const GateOptions& o) {
    auto db = open_connection(c.connect);
    auto start = std::chrono::steady_clock::now();
    std::string last;
    for (;;) {
        Verdict v = evaluate(*db, o);
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
