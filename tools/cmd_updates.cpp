// status (of one database, or of each physical database of a mapping with a
// total), estimate, finish, pause, resume, retry, enable, disable.
#include <fmt/core.h>

#include <map>
#include <set>

#include "commands.h"
#include "db_mapping.h"
#include "errors.h"
#include "exit_codes.h"
#include "logical_databases.h"
#include "logical_record.h"
#include "output.h"
#include "sql_surface.h"

namespace bgtool {

// The status columns whose values stay strings in JSON output (a hold reason
// of "1" or an update named "t" is text), from the one declaration of them.
const std::vector<std::string> kStatusTextColumns = [] {
    std::vector<std::string> out;
    for (const auto& c : bgupdate::sql::kStatusColumns)
        if (c.type == bgupdate::sql::Type::Text || c.type == bgupdate::sql::Type::Timestamp) out.push_back(c.name);
    return out;
}();

Result read_status(Connection& db) { return db.query("SELECT * FROM " + db.status_source()); }

namespace {

void print_status_table(const Result& s) {
    if (s.rows.empty()) {
        fmt::print("(no background updates)\n");
        return;
    }
    std::vector<std::vector<std::string>> lines{
        {"update", "state", "ordering", "depends_on", "batches", "items", "total", "percent", "rows/s", "batch", "eta",
         "attempts", "last_error"}};
    for (size_t r = 0; r < s.rows.size(); ++r) {
        auto rate = s.get(r, "avg_items_per_ms");
        std::string state = show(s.get(r, "state"));
        lines.push_back({show(s.get(r, "update_name")), state, show(s.get(r, "ordering")), show(s.get(r, "depends_on")),
                         show(s.get(r, "batches")), show(s.get(r, "items_done")), show(s.get(r, "total_estimate")),
                         s.get(r, "percent") ? fmt_number(s.get(r, "percent"), 1) + "%" : "-",
                         rate ? fmt::format("{:.0f}", std::stod(*rate) * 1000) : "-", show(s.get(r, "batch_size")),
                         state == "complete" || !s.get(r, "eta_seconds") ? "-"
                                                                         : fmt_duration(std::stod(*s.get(r, "eta_seconds"))),
                         show(s.get(r, "attempts")), show(s.get(r, "last_error"))});
    }
    fmt::print("{}", table(lines));
}

// Status of every physical database of a mapping, one section each, and a total.
int status_across(const Common& c, const DbMapping& mapping) {
    bgupdate::Json databases = bgupdate::Json::array();
    std::map<std::string, int64_t> by_state;
    int64_t updates = 0;
    for (auto& p : mapping.databases) {
        ConnectOptions connect = c.connect;
        connect.db = p.url;
        auto db = open_connection(connect);
        Result s = read_status(*db);
        std::set<std::string> recorded = read_logical_record(*db);
        auto problem = bgupdate::logical_database_conflict(recorded, bgupdate::logical_record_of(p.logical),
                                                              mapping.every_logical());
        for (size_t r = 0; r < s.rows.size(); ++r) ++by_state[show(s.get(r, "state"))];
        updates += static_cast<int64_t>(s.rows.size());
        if (c.json) {
            bgupdate::Json j = bgupdate::Json::object();
            j.set("database", p.label());
            j.set("engine", db->engine_name());
            j.set("logical_databases", bgupdate::string_array(std::vector<std::string>(p.logical.begin(), p.logical.end())));
            if (problem) j.set("problem", *problem); else j.set_null("problem");
            j.set("updates", rows_json(s, kStatusTextColumns));
            databases.append(j);
            continue;
        }
        fmt::print("== {} ({})\n", p.label(), db->engine_name());
        if (problem) fmt::print(stderr, "bgupdate: warning: database {}: {}\n", p.label(), *problem);
        print_status_table(s);
    }
    std::string summary;
    bgupdate::Json states = bgupdate::Json::object();
    for (auto& [state, n] : by_state) {
        summary += fmt::format("{}{} {}", summary.empty() ? "" : ", ", n, state);
        states.set(state.c_str(), n);
    }
    if (c.json) {
        bgupdate::Json total = bgupdate::Json::object();
        total.set("updates", updates);
        total.set("states", states);
        bgupdate::Json j = bgupdate::Json::object();
        j.set("databases", databases);
        j.set("total", total);
        print_json(j);
    } else {
        fmt::print("total: {} update(s) in {} database(s){}{}\n", updates, mapping.databases.size(),
                   summary.empty() ? "" : ": ", summary);
    }
    return kOk;
}

}  // namespace

int cmd_status(const Common& c) {
    DbMapping mapping = parse_db_mapping(c.dbs);
    if (mapping.split()) return status_across(c, mapping);
    ConnectOptions connect = c.connect;
    connect.db = mapping.databases.front().url;
    auto db = open_connection(connect);
    Result s = read_status(*db);
    if (c.json) print_json(rows_json(s, kStatusTextColumns));
    else print_status_table(s);
    return kOk;
}

int cmd_estimate(const Common& c, const std::vector<std::string>& names_in) {
    auto db = open_connection(c.connect);
    std::vector<std::string> names = names_in;
    if (names.empty()) {
        Result s = read_status(*db);
        for (size_t r = 0; r < s.rows.size(); ++r)
            if (show(s.get(r, "state")) != "complete") names.push_back(show(s.get(r, "update_name")));
    }
    bgupdate::Json all = bgupdate::Json::array();
    std::vector<std::vector<std::string>> lines{
        {"update", "items_left", "trial", "ms/item", "batch", "ms/batch", "batches", "sleeps", "work", "total", "note"}};
    for (auto& n : names) {
        Result r = db->query("SELECT " + db->fn("estimate") + "(" + db->p(1) + ")", {Param::text(n)});
        bgupdate::Json e = bgupdate::Json::parse_object(r.rows.at(0).at(0).value_or("{}"), "estimate of '" + n + "'");
        all.append(e);
        auto num = [&](const char* k) -> std::string {
            bgupdate::Json v = e.at(k);
            if (auto i = v.as_integer()) return std::to_string(*i);
            auto d = json_number(v);
            return d ? fmt::format("{:.3f}", *d) : "-";
        };
        auto secs = [&](const char* k) -> std::string {
            auto d = json_number(e.at(k));
            return d ? fmt_duration(*d) : "-";
        };
        lines.push_back({n, num("items_left"),
                         num("trial_items") + " in " + fmt::format("{:.1f}ms", json_number(e.at("trial_ms")).value_or(0)),
                         num("ms_per_item"), num("batch_size"), num("batch_ms"), num("batches"), secs("sleep_seconds"),
                         secs("work_seconds"), secs("total_seconds"), e.get_string("note").value_or("")});
    }
    if (c.json) print_json(all);
    else if (names.empty()) fmt::print("(no queued background updates)\n");
    else fmt::print("{}", table(lines));
    return kOk;
}

namespace {

// Why `action` would change nothing for an update in `state` ("" if it would
// do something): such a request is a clear no-op, not a silent write.
std::string nothing_to_do(const std::string& action, const std::string& state) {
    if (action == "finish") return "";
    if (state == "complete") return "it is complete";
    if (action == "pause" && state == "paused") return "it is already paused";
    if (action == "resume" && state != "paused" && state != "backing_off" && state != "on_hold")
        return "it is not paused (it is " + state + ")";
    if (action == "retry" && state != "failed" && state != "backing_off")
        return "it has not failed (it is " + state + ")";
    return "";
}

const char* past_tense(const std::string& action) {
    if (action == "finish") return "finished";
    if (action == "pause") return "paused";
    if (action == "resume") return "resumed";
    return "retried";
}

}  // namespace

int cmd_update_action(const Common& c, const std::string& action, const std::vector<std::string>& names) {
    auto db = open_connection(c.connect);
    std::map<std::string, std::string> states;
    Result s = read_status(*db);
    for (size_t r = 0; r < s.rows.size(); ++r) states[show(s.get(r, "update_name"))] = show(s.get(r, "state"));
    std::vector<std::string> done;
    bgupdate::Json unchanged = bgupdate::Json::array();
    for (auto& n : names) {
        // A name status does not show (unknown, or another role's) goes to
        // the database, which says why it cannot be done.
        auto st = states.find(n);
        std::string why = st == states.end() ? "" : nothing_to_do(action, st->second);
        if (!why.empty()) {
            if (!c.json) fmt::print("{}: nothing to {}: {}\n", for_terminal(n), action, why);
            bgupdate::Json u = bgupdate::Json::object();
            u.set("update_name", n);
            u.set("reason", why);
            unchanged.append(u);
            continue;
        }
        db->query("SELECT " + db->fn(action) + "(" + db->p(1) + ")", {Param::text(n)});
        done.push_back(n);
        if (!c.json) fmt::print("{}: {}\n", past_tense(action), for_terminal(n));
    }
    if (c.json) {
        bgupdate::Json o = bgupdate::Json::object();
        o.set("action", action);
        o.set("updates", bgupdate::string_array(done));
        if (unchanged.size() > 0) o.set("unchanged", unchanged);
        print_json(o);
    }
    return kOk;
}

int cmd_set_enabled(const Common& c, bool on) {
    auto db = open_connection(c.connect);
    db->query("SELECT " + db->fn("set_enabled") + "(" + (db->is_postgres() ? std::string(on ? "true" : "false")
                                                                              : std::string(on ? "1" : "0")) + ")");
    if (c.json) {
        bgupdate::Json o = bgupdate::Json::object();
        o.set_bool("enabled", on);
        print_json(o);
    } else {
        fmt::print("background updates {}\n", on ? "enabled" : "disabled");
    }
    return kOk;
}

}  // namespace bgtool
