// The runner's settings: names, Synapse's defaults, validation. Engines store
// them differently (PostgreSQL GUCs bgupdate.<key>, SQLite bgupdate_config)
// but every key and its rules are defined once, here.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace bgupdate {

class Engine;

struct SettingInfo {
    const char* key;
    const char* default_value;
    enum class Type { Integer, Boolean, Function } type;
    int64_t min_value;  // integers only
    const char* description;
};

// Every known setting, in documentation order.
const std::vector<SettingInfo>& all_settings();
const SettingInfo* find_setting(const std::string& key);
// Validate `value` for `key`; returns its normalised text or throws BadInput.
std::string normalise_setting(const std::string& key, const std::string& value);

struct Settings {
    double update_duration_ms = 100;
    bool sleep_enabled = true;
    int64_t sleep_duration_ms = 1000;
    int64_t min_batch_size = 1;
    int64_t default_batch_size = 100;
    int64_t max_failures = 5;
    int64_t lock_timeout_ms = 500;
    int64_t statement_timeout_ms = 60000;  // 0: no limit
    int64_t retry_backoff_ms = 1000;   // first backoff; doubles per failure
    int64_t max_backoff_ms = 60000;
    bool enabled = true;
    std::string duration_hook, default_batch_size_hook, min_batch_size_hook;  // "" = none
    int64_t max_batch_size = 0;  // 0: no cap
    bool health_pacing = false;
    // Health checks (common/health.h); 0 / false turns one off.
    int64_t health_check_interval_ms = 1000;
    int64_t health_hold_ms = 5000;
    int64_t health_max_replica_lag_ms = 30000;
    int64_t health_max_replica_lag_mb = 1024;
    int64_t health_max_slot_retained_mb = 10240;
    bool health_hold_on_vacuum = true;
    int64_t health_max_archive_ready = 42;
    int64_t health_max_xmin_age_s = 600;
    bool health_hold_on_blocked_sessions = true;
    int64_t health_max_wal_mb = 256;
    int64_t health_max_wal_flush_waiters = 0;  // off: see the README's measurement
    std::string health_hook;  // "" = none
};

Settings load_settings(Engine& engine);

// Settings that contradict each other (min_batch_size above max_batch_size,
// a statement timeout below the target duration) are refused together, with
// both names: each may be valid alone.
void require_settings_agree(const Settings& settings);

}  // namespace bgupdate
