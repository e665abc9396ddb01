#include "settings.h"

#include <cerrno>
#include <cstdlib>

#include "engine.h"
#include "errors.h"

namespace bgupdate {

using T = SettingInfo::Type;

const std::vector<SettingInfo>& all_settings() {
    static const std::vector<SettingInfo> settings = {
        {"update_duration_ms", "100", T::Integer, 1, "target duration of one batch (the controller sizes batches to it)"},
        {"sleep_enabled", "true", T::Boolean, 0, "sleep between batches"},
        {"sleep_duration_ms", "1000", T::Integer, 0, "how long to sleep between batches"},
        {"min_batch_size", "1", T::Integer, 1, "smallest batch the controller will choose"},
        {"default_batch_size", "100", T::Integer, 1, "size of an update's first batch"},
        {"max_failures", "5", T::Integer, 1, "back-to-back failures after which an update is marked failed"},
        {"lock_timeout_ms", "500", T::Integer, 0, "a batch waiting longer than this for a lock gives up and retries later (0: wait forever)"},
        {"statement_timeout_ms", "60000", T::Integer, 0, "a batch statement running longer than this is cancelled (0: no limit; index builds and constraint validations are not bounded by it)"},
        {"retry_backoff_ms", "1000", T::Integer, 0, "wait before retrying a failed batch; doubles with each back-to-back failure"},
        {"max_backoff_ms", "60000", T::Integer, 0, "upper bound of the retry wait"},
        {"duration_hook", "", T::Function, 0, "function (update_name) returning the target duration of the next batch in ms"},
        {"default_batch_size_hook", "", T::Function, 0, "function (update_name) returning the first batch size"},
        {"min_batch_size_hook", "", T::Function, 0, "function (update_name) returning the minimum batch size"},
        {"enabled", "true", T::Boolean, 0, "the admin switch (set_enabled)"},
        // Batch size limits and pacing.
        {"max_batch_size", "0", T::Integer, 0, "largest batch the controller will choose (0: no cap)"},
        {"health_pacing", "false", T::Boolean, 0, "pace by health instead of sleeping: batches run back to back while every health check is green, slower when one nears its limit (overrides sleep_enabled)"},
        // Health checks: an update goes on hold while one says stop (0 / false: check off).
        {"health_check_interval_ms", "1000", T::Integer, 0, "how long a green health verdict is reused before the checks run again"},
        {"health_hold_ms", "5000", T::Integer, 1, "how long an update stays on hold before its health is checked again"},
        {"health_max_replica_lag_ms", "30000", T::Integer, 0, "hold while a standby's replay lag exceeds this (PostgreSQL)"},
        {"health_max_replica_lag_mb", "1024", T::Integer, 0, "hold while a standby's replay is this many MB of WAL behind (PostgreSQL)"},
        {"health_max_slot_retained_mb", "10240", T::Integer, 0, "hold while an active replication slot retains more WAL than this, in MB (PostgreSQL)"},
        {"health_hold_on_vacuum", "true", T::Boolean, 0, "hold while (auto)vacuum runs on the update's table (PostgreSQL)"},
        {"health_max_archive_ready", "42", T::Integer, 0, "hold while more WAL segments than this wait to be archived (PostgreSQL; GitLab's 42)"},
        {"health_max_xmin_age_s", "600", T::Integer, 0, "hold while a transaction has held back the xmin horizon for longer than this (PostgreSQL)"},
        {"health_hold_on_blocked_sessions", "true", T::Boolean, 0, "when sessions waited on locks held by a batch: halve the next batch and pause for as long as the batch took"},
        {"health_max_wal_flush_waiters", "0", T::Integer, 0, "hold while more sessions than this wait, on average, for WAL to be written or flushed (a synchronous standby's included); slow past half of it (PostgreSQL; 0: off)"},
        {"health_max_wal_mb", "256", T::Integer, 0, "hold while the WAL file is larger than this, in MB (SQLite: checkpoints starved)"},
        {"health_hook", "", T::Function, 0, "function (update_name) returning a reason to hold, or NULL when healthy"},
    };
    return settings;
}

const SettingInfo* find_setting(const std::string& key) {
    for (auto& s : all_settings())
        if (key == s.key) return &s;
    return nullptr;
}

static std::string known_keys() {
    std::string out;
    for (auto& s : all_settings()) out += (out.empty() ? "" : ", ") + std::string(s.key);
    return out;
}

std::string normalise_setting(const std::string& key, const std::string& value) {
    const SettingInfo* info = find_setting(key);
    if (!info) bad_input("unknown setting '" + key + "' (known: " + known_keys() + ")");
    switch (info->type) {
        case T::Integer: {
            errno = 0;
            char* end = nullptr;
            long long v = std::strtoll(value.c_str(), &end, 10);
            if (value.empty() || *end != '\0' || errno == ERANGE)
                bad_input("setting '" + key + "' must be a whole number, got '" + value + "'");
            if (v < info->min_value)
                bad_input("setting '" + key + "' must be at least " + std::to_string(info->min_value) + ", got " + value);
            return std::to_string(v);
        }
        case T::Boolean: {
            if (value == "1" || value == "true" || value == "on" || value == "TRUE" || value == "t") return "true";
            if (value == "0" || value == "false" || value == "off" || value == "FALSE" || value == "f") return "false";
            bad_input("setting '" + key + "' must be true or false, got '" + value + "'");
        }
        case T::Function: return value;
    }
    return value;
}

Settings load_settings(Engine& engine) {
    Settings s;
    auto get = [&](const char* key) {
        auto v = engine.get_setting(key);
        return v ? normalise_setting(key, *v) : std::string(find_setting(key)->default_value);
    };
    auto integer = [&](const char* key) { return std::strtoll(get(key).c_str(), nullptr, 10); };
    s.update_duration_ms = static_cast<double>(integer("update_duration_ms"));
    s.sleep_enabled = get("sleep_enabled") == "true";
    s.sleep_duration_ms = integer("sleep_duration_ms");
    s.min_batch_size = integer("min_batch_size");
    s.default_batch_size = integer("default_batch_size");
    s.max_failures = integer("max_failures");
    s.lock_timeout_ms = integer("lock_timeout_ms");
    s.statement_timeout_ms = integer("statement_timeout_ms");
    s.retry_backoff_ms = integer("retry_backoff_ms");
    s.max_backoff_ms = integer("max_backoff_ms");
    s.duration_hook = get("duration_hook");
    s.default_batch_size_hook = get("default_batch_size_hook");
    s.min_batch_size_hook = get("min_batch_size_hook");
    s.enabled = get("enabled") == "true";
    s.max_batch_size = integer("max_batch_size");
    s.health_pacing = get("health_pacing") == "true";
    s.health_check_interval_ms = integer("health_check_interval_ms");
    s.health_hold_ms = integer("health_hold_ms");
    s.health_max_replica_lag_ms = integer("health_max_replica_lag_ms");
    s.health_max_replica_lag_mb = integer("health_max_replica_lag_mb");
    s.health_max_slot_retained_mb = integer("health_max_slot_retained_mb");
    s.health_hold_on_vacuum = get("health_hold_on_vacuum") == "true";
    s.health_max_archive_ready = integer("health_max_archive_ready");
    s.health_max_xmin_age_s = integer("health_max_xmin_age_s");
    s.health_hold_on_blocked_sessions = get("health_hold_on_blocked_sessions") == "true";
    s.health_max_wal_mb = integer("health_max_wal_mb");
    s.health_max_wal_flush_waiters = integer("health_max_wal_flush_waiters");
    s.health_hook = get("health_hook");
    return s;
}

}  // namespace bgupdate

namespace bgupdate {

void require_settings_agree(const Settings& s) {
    if (s.max_batch_size > 0 && s.min_batch_size > s.max_batch_size)
        bad_input("setting min_batch_size (" + std::to_string(s.min_batch_size) + ") is larger than max_batch_size (" +
                  std::to_string(s.max_batch_size) + "): no batch size satisfies both; lower one or raise the other");
    if (s.statement_timeout_ms > 0 && static_cast<double>(s.statement_timeout_ms) < s.update_duration_ms)
        bad_input("setting statement_timeout_ms (" + std::to_string(s.statement_timeout_ms) +
                  ") is below update_duration_ms (" + std::to_string(static_cast<int64_t>(s.update_duration_ms)) +
                  "): every batch sized to its target would be cancelled; raise the timeout or lower the target");
}

}  // namespace bgupdate
