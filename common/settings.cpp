#include "settings.h"

#include <cerrno>
#include <cstdlib>
#include <type_traits>

#include "engine.h"
#include "errors.h"

namespace bgupdate {

using T = SettingInfo::Type;

const std::vector<SettingInfo>& all_settings() {
    static const std::vector<SettingInfo> settings = {
        {"update_duration_ms", "100", T::Integer, 1, "target duration of one batch (the controller sizes batches to it)", &Settings::update_duration_ms},
        {"sleep_enabled", "true", T::Boolean, 0, "sleep between batches", &Settings::sleep_enabled},
        {"sleep_duration_ms", "1000", T::Integer, 0, "how long to sleep between batches", &Settings::sleep_duration_ms},
        {"min_batch_size", "1", T::Integer, 1, "smallest batch the controller will choose", &Settings::min_batch_size},
        {"default_batch_size", "100", T::Integer, 1, "size of an update's first batch", &Settings::default_batch_size},
        {"max_failures", "5", T::Integer, 1, "back-to-back failures after which an update is marked failed", &Settings::max_failures},
        {"lock_timeout_ms", "500", T::Integer, 0, "a batch waiting longer than this for a lock gives up and retries later (0: wait forever)", &Settings::lock_timeout_ms},
        {"statement_timeout_ms", "60000", T::Integer, 0, "a batch statement running longer than this is cancelled (0: no limit; index builds and constraint validations are not bounded by it)", &Settings::statement_timeout_ms},
        {"retry_backoff_ms", "1000", T::Integer, 0, "wait before retrying a failed batch; doubles with each back-to-back failure", &Settings::retry_backoff_ms},
        {"max_backoff_ms", "60000", T::Integer, 0, "upper bound of the retry wait", &Settings::max_backoff_ms},
        {"duration_hook", "", T::Function, 0, "function (update_name) returning the target duration of the next batch in ms", &Settings::duration_hook},
        {"default_batch_size_hook", "", T::Function, 0, "function (update_name) returning the first batch size", &Settings::default_batch_size_hook},
        {"min_batch_size_hook", "", T::Function, 0, "function (update_name) returning the minimum batch size", &Settings::min_batch_size_hook},
        {"enabled", "true", T::Boolean, 0, "the admin switch (set_enabled)", &Settings::enabled},
        // Batch size limits and pacing.
        {"max_batch_size", "0", T::Integer, 0, "largest batch the controller will choose (0: no cap)", &Settings::max_batch_size},
        {"health_pacing", "false", T::Boolean, 0, "pace by health instead of sleeping: batches run back to back while every health check is green, slower when one nears its limit (overrides sleep_enabled)", &Settings::health_pacing},
        // Health checks: an update goes on hold while one says stop (0 / false: check off).
        {"health_check_interval_ms", "1000", T::Integer, 0, "how long a green health verdict is reused before the checks run again", &Settings::health_check_interval_ms},
        {"health_hold_ms", "5000", T::Integer, 1, "how long an update stays on hold before its health is checked again", &Settings::health_hold_ms},
        {"health_max_replica_lag_ms", "30000", T::Integer, 0, "hold while a standby's replay lag exceeds this (PostgreSQL)", &Settings::health_max_replica_lag_ms},
        {"health_max_replica_lag_mb", "1024", T::Integer, 0, "hold while a standby's replay is this many MB of WAL behind (PostgreSQL)", &Settings::health_max_replica_lag_mb},
        {"health_max_slot_retained_mb", "10240", T::Integer, 0, "hold while an active replication slot retains more WAL than this, in MB (PostgreSQL)", &Settings::health_max_slot_retained_mb},
        {"health_hold_on_vacuum", "true", T::Boolean, 0, "hold while (auto)vacuum runs on the update's table (PostgreSQL)", &Settings::health_hold_on_vacuum},
        {"health_max_archive_ready", "42", T::Integer, 0, "hold while more WAL segments than this wait to be archived (PostgreSQL; GitLab's 42)", &Settings::health_max_archive_ready},
        {"health_max_xmin_age_s", "600", T::Integer, 0, "hold while a transaction has held back the xmin horizon for longer than this (PostgreSQL)", &Settings::health_max_xmin_age_s},
        {"health_hold_on_blocked_sessions", "true", T::Boolean, 0, "when sessions waited on locks held by a batch: halve the next batch and pause for as long as the batch took", &Settings::health_hold_on_blocked_sessions},
        {"health_max_wal_flush_waiters", "0", T::Integer, 0, "hold while more sessions than this wait, on average, for WAL to be written or flushed (a synchronous standby's included); slow past half of it (PostgreSQL; 0: off)", &Settings::health_max_wal_flush_waiters},
        {"health_max_wal_mb", "256", T::Integer, 0, "hold while the WAL file is larger than this, in MB (SQLite: checkpoints starved)", &Settings::health_max_wal_mb},
        {"health_hook", "", T::Function, 0, "function (update_name) returning a reason to hold, or NULL when healthy", &Settings::health_hook},
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

namespace {

// Puts a normalised value (normalise_setting) into its field.
void assign(Settings& s, const SettingInfo& info, const std::string& value) {
    std::visit(
        [&](auto field) {
            using V = std::remove_reference_t<decltype(s.*field)>;
            if constexpr (std::is_same_v<V, std::string>) s.*field = value;
            else if constexpr (std::is_same_v<V, bool>) s.*field = value == "true";
            else s.*field = static_cast<V>(std::strtoll(value.c_str(), nullptr, 10));
        },
        info.field);
}

}  // namespace

Settings::Settings() {
    for (auto& info : all_settings()) assign(*this, info, info.default_value);
}

Settings load_settings(Engine& engine) {
    Settings s;
    for (auto& info : all_settings())
        if (auto v = engine.get_setting(info.key)) assign(s, info, normalise_setting(info.key, *v));
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
