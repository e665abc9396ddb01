#include "health.h"

#include <chrono>
#include <cstdio>
#include <map>
#include <mutex>

namespace bgupdate {

namespace {

struct Limit {
    const char* signal;
    const char* setting;
    const char* what;  // how a reading reads in a reason
    const char* unit;
    double limit;      // <= 0: off; a boolean check uses 0.5 (any reading of 1 holds)
    // A level, not an amount the batches pile up: judged as read, without the
    // rise since the last check (a sampled average that goes up and down).
    bool level = false;
};

std::vector<Limit> limits_of(const Settings& s) {
    return {
        {signal::kReplicaLagMs, "health_max_replica_lag_ms", "standby replay lag", "ms", double(s.health_max_replica_lag_ms)},
        {signal::kReplicaLagMb, "health_max_replica_lag_mb", "standby replay behind", "MB", double(s.health_max_replica_lag_mb)},
        {signal::kSlotRetainedMb, "health_max_slot_retained_mb", "replication slot retains", "MB of WAL", double(s.health_max_slot_retained_mb)},
        {signal::kVacuum, "health_hold_on_vacuum", "vacuum running on the table", "", s.health_hold_on_vacuum ? 0.5 : 0},
        {signal::kArchiveReady, "health_max_archive_ready", "WAL segments waiting to be archived", "", double(s.health_max_archive_ready)},
        {signal::kXminAgeS, "health_max_xmin_age_s", "a transaction has held back the xmin horizon for", "s", double(s.health_max_xmin_age_s)},
        {signal::kWalMb, "health_max_wal_mb", "WAL file size", "MB", double(s.health_max_wal_mb)},
        {signal::kBlockedSessions, "health_hold_on_blocked_sessions", "sessions waited on locks held by the batch", "", s.health_hold_on_blocked_sessions ? 0.5 : 0},
        {signal::kWalFlushWaiters, "health_max_wal_flush_waiters", "sessions waiting for WAL flushes", "", double(s.health_max_wal_flush_waiters), true},
    };
}

std::string number(double v) {
    char buf[64];
    if (v == static_cast<double>(static_cast<int64_t>(v))) std::snprintf(buf, sizeof buf, "%lld", static_cast<long long>(v));
    else std::snprintf(buf, sizeof buf, "%.1f", v);
    return buf;
}

double steady_ms() {
    using namespace std::chrono;
    return duration<double, std::milli>(steady_clock::now().time_since_epoch()).count();
}

struct Cached {
    double at_ms;
    HealthVerdict verdict;
};
// What the last reading of each signal was, and how much it had grown since
// the one before (with a batch in between), per database, table and update.
struct Trend {
    std::map<std::string, std::pair<double, double>> signals;  // signal -> (value, growth)
    bool held = false;  // the last verdict held the update: no batch ran since
};
std::mutex cache_mutex;  // SQLite: the application's thread and the background thread
std::map<std::string, Cached> cache;
std::map<std::string, Trend> trends;

// A growth of `g` since the last check: what the next check will likely add.
std::map<std::string, double> note_trend(Trend& t, const std::vector<HealthReading>& readings) {
    std::map<std::string, double> growth;
    for (auto& r : readings) {
        if (r.signal == signal::kHook) continue;
        auto it = t.signals.find(r.signal);
        double g = 0;
        if (it != t.signals.end()) {
            g = it->second.second;
            // A batch ran since (the update was not held): what it and everyone
            // else added. A fall keeps the last rise: a replica that caught up a
            // little may fall behind again as fast.
            if (!t.held && r.value > it->second.first) g = r.value - it->second.first;
        }
        t.signals[r.signal] = {r.value, g};
        growth[r.signal] = g;
    }
    return growth;
}

}  // namespace

std::vector<std::string> wanted_signals(const Settings& s) {
    std::vector<std::string> out;
    for (auto& l : limits_of(s))
        if (l.limit > 0 && std::string(l.signal) != signal::kBlockedSessions) out.push_back(l.signal);
    return out;
}

HealthVerdict judge_health(const std::vector<HealthReading>& readings, const Settings& s,
                           const std::map<std::string, double>& growth) {
    HealthVerdict out;
    auto limits = limits_of(s);
    for (auto& r : readings) {
        if (r.signal == signal::kHook) {
            if (!r.detail.empty() && out.level != HealthLevel::Hold) {
                out.level = HealthLevel::Hold;
                out.reason = "health hook " + s.health_hook + ": " + r.detail;
            }
            continue;
        }
        for (auto& l : limits) {
            if (r.signal != l.signal || l.limit <= 0) continue;
            bool boolean = l.limit == 0.5;
            std::string who = r.detail.empty() ? "" : " (" + r.detail + ")";
            std::string unit = std::string(*l.unit ? " " : "") + l.unit;
            auto g = growth.find(r.signal);
            double rise = boolean || l.level || g == growth.end() ? 0 : g->second;
            double next = r.value + rise;  // the reading expected at the next check
            if (r.value > l.limit || (!boolean && next > l.limit)) {
                if (out.level == HealthLevel::Hold) break;  // the first reason is kept
                out.level = HealthLevel::Hold;
                if (boolean)
                    out.reason = std::string(l.what) + who + " [bgupdate." + l.setting + "]";
                else if (r.value > l.limit)
                    out.reason = std::string(l.what) + " " + number(r.value) + unit + who + " > limit " +
                                 number(l.limit) + " [bgupdate." + l.setting + "]";
                else
                    out.reason = std::string(l.what) + " " + number(r.value) + unit + who + ", rising " +
                                 number(rise) + unit + " per check, would pass limit " + number(l.limit) +
                                 " [bgupdate." + l.setting + "]";
            } else if (!boolean && next > l.limit / 2 && out.level == HealthLevel::Green) {
                out.level = HealthLevel::Slow;
                out.reason = std::string(l.what) + " " + number(r.value) + unit + who +
                             (r.value > l.limit / 2 ? " is past half its limit "
                                                    : ", rising " + number(rise) + unit +
                                                          " per check, would pass half its limit ") +
                             number(l.limit);
            }
            break;
        }
    }
    return out;
}

HealthVerdict check_health(Engine& engine, const Settings& s, const std::string& update_name,
                           const std::string& table, const Identity& owner) {
    HealthRequest req{update_name, table, owner, wanted_signals(s), s.health_hook};
    if (req.signals.empty() && req.hook.empty()) return {};
    std::string key;
    double now = steady_ms();
    try {
        key = engine.database_key() + '\x1f' + table + '\x1f' + update_name;
        {
            std::lock_guard<std::mutex> lock(cache_mutex);
            auto it = cache.find(key);
            if (it != cache.end() && now - it->second.at_ms < static_cast<double>(s.health_check_interval_ms))
                return it->second.verdict;
        }
        auto readings = engine.read_health(req);
        std::lock_guard<std::mutex> lock(cache_mutex);
        if (trends.size() > 1000) trends.clear();  // bounded: keys are per update
        Trend& trend = trends[key];
        HealthVerdict v = judge_health(readings, s, note_trend(trend, readings));
        trend.held = v.level == HealthLevel::Hold;
        // A hold is persisted (look afresh after it); slow: look again before the next batch.
        if (v.level != HealthLevel::Green) cache.erase(key);
        else {
            if (cache.size() > 1000) cache.clear();
            cache[key] = Cached{now, v};
        }
        return v;
    } catch (const std::exception& e) {
        return HealthVerdict{HealthLevel::Hold, std::string("a health check failed (holding: checks fail closed): ") + e.what()};
    } catch (...) {
        return HealthVerdict{HealthLevel::Hold, "a health check failed (holding: checks fail closed)"};
    }
}

void clear_health_cache() {
    std::lock_guard<std::mutex> lock(cache_mutex);
    cache.clear();
    trends.clear();
}

}  // namespace bgupdate
