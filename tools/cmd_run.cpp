// run: Synapse's offline mode. Calls step() until the queue is empty, with no
// sleeps between batches unless --sleep, showing progress as it goes.
#include <fmt/core.h>
#include <fmt/format.h>
#include <unistd.h>

#include <chrono>
#include <set>
#include <thread>

#include "commands.h"
#include "exit_codes.h"
#include "output.h"
#include "progress.h"
#include "run_loop.h"

namespace bgtool {
namespace {

using Clock = std::chrono::steady_clock;

// The pause between batches from the extension's settings (only with --sleep).
double configured_pause_s(Connection& db) {
    auto get = [&](const char* key) -> Cell {
        if (db.is_postgres())
            return db.query("SELECT current_setting('bgupdate." + std::string(key) + "', true)").rows.at(0).at(0);
        return db.query("SELECT bgupdate_config(?1)", {Param::text(key)}).rows.at(0).at(0);
    };
    Cell enabled = get("sleep_enabled"), ms = get("sleep_duration_ms");
    if (enabled && (*enabled == "off" || *enabled == "false" || *enabled == "0" || *enabled == "f")) return 0;
    return ms && !ms->empty() ? std::stod(*ms) / 1000.0 : 1.0;
}

// nullopt while some update can still run; otherwise what blocks the rest.
std::optional<std::string> why_stuck(const Result& s) {
    std::vector<std::string> parts;
    for (size_t r = 0; r < s.rows.size(); ++r) {
        std::string state = show(s.get(r, "state")), name = show(s.get(r, "update_name"));
        // Still going, or held back for a while (backoff, a health hold): not stuck.
        if (state == "pending" || state == "running" || state == "backing_off" || state == "on_hold")
            return std::nullopt;
        if (state == "failed")
            parts.push_back(fmt::format("{} failed: {} (retry it with 'bgupdate retry {}')", name,
                                        show(s.get(r, "last_error")), name));
        else if (state == "paused") parts.push_back(name + " is paused");
        else if (state == "waiting")
            parts.push_back(s.get(r, "depends_on") ? name + " waits for " + show(s.get(r, "depends_on"))
                                                   : name + " waits: " + show(s.get(r, "last_error")));
    }
    if (parts.empty()) return std::string("no update can run");
    return fmt::format("{}", fmt::join(parts, "; "));
}

}  // namespace

RunOutcome run_updates(Connection& db, const RunOptions& o, Progress& progress) {
    double pause_s = o.sleep ? configured_pause_s(db) : 0.0;
    auto start = Clock::now();
    auto elapsed = [&] { return std::chrono::duration<double>(Clock::now() - start).count(); };
    auto wait = [&](double s) {
        if (o.max_seconds) s = std::min(s, std::max(0.0, *o.max_seconds - elapsed()));
        if (s > 0) std::this_thread::sleep_for(std::chrono::duration<double>(s));
    };
    RunOutcome outcome;
    std::vector<std::string>& finished = outcome.finished;
    std::string last_error, &stop_reason = outcome.reason;
    int& code = outcome.code;
    int64_t& batches = outcome.batches;
    for (;;) {
        if (o.max_seconds && elapsed() >= *o.max_seconds) {
            Result s = read_status(db);
            progress.show(s, true);
            size_t left = 0;
            for (size_t r = 0; r < s.rows.size(); ++r) left += show(s.get(r, "state")) != "complete";
            stop_reason = fmt::format("stopped after {}; {} update(s) not finished", fmt_duration(*o.max_seconds), left);
            code = left ? kRemaining : kOk;
            break;
        }
        Result r = db.query("SELECT " + db.fn("step") + "()");
        bgupdate::Json out = bgupdate::Json::parse_object(r.rows.at(0).at(0).value_or("{}"), "the result of step()");
        auto flag = [&](const char* k) { return out.at(k).is_true(); };
        std::optional<std::string> name = out.get_string("update_name");
        if (auto err = out.get_string("error")) {  // recorded and retried with backoff; say so once
            if (*err != last_error) progress.message("batch failed: " + *err);
            last_error = *err;
            name.reset();
        } else {
            last_error.clear();
        }
        bgupdate::Json en = out.at("enabled");
        if (en.is_boolean() && !en.is_true()) {
            progress.show(read_status(db), true);
            stop_reason = "background updates are disabled (enable them with 'bgupdate enable')";
            code = kBlocked;
            break;
        }
        if (name) ++batches;
        if (flag("done") && name) {
            finished.push_back(*name);
            progress.finished(*name);
            progress.message("finished " + *name);
        }
        Result s = read_status(db);
        if (flag("all_done")) {
            progress.show(s, true);
            stop_reason = "all background updates are complete";
            break;
        }
        progress.show(s);
        if (name) {
            wait(flag("lock_timeout") ? 0.05 : pause_s);
            continue;
        }
        std::optional<double> retry = json_number(out.at("retry_in_ms"));
        auto stuck = why_stuck(s);
        if (stuck && !retry) {
            progress.show(s, true);
            stop_reason = "stopped: " + *stuck;
            code = kBlocked;
            break;
        }
        // Nothing runnable now (a backoff, or another runner holds the update).
        wait(std::min(1.0, retry ? *retry / 1000.0 : 0.5));
    }
    progress.message(stop_reason);
    outcome.seconds = elapsed();
    return outcome;
}

int cmd_run(const Common& c, const RunOptions& o) {
    auto db = open_connection(c.connect);
    Progress::Mode mode = Progress::Mode::Plain;
    if (o.progress == "none" || (o.progress == "auto" && c.json)) mode = Progress::Mode::None;
    else if (o.progress == "bar" || (o.progress == "auto" && isatty(STDOUT_FILENO))) mode = Progress::Mode::Bar;
    Progress progress(stdout, mode, o.interval);
    RunOutcome r = run_updates(*db, o, progress);
    if (c.json) {
        bgupdate::Json j = bgupdate::Json::object();
        j.set("exit_code", static_cast<int64_t>(r.code));
        j.set("result", r.reason);
        j.set("batches", r.batches);
        j.set("seconds", r.seconds);
        j.set("finished", bgupdate::string_array(r.finished));
        print_json(j);
    }
    return r.code;
}

}  // namespace bgtool
