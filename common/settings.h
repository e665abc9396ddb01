// The runner's settings: names, Synapse's defaults, validation. Engines store
// them differently (PostgreSQL GUCs bgupdate.<key>, SQLite bgupdate_config)
// but every key and its rules are defined once, here.
#pragma once

#include <cstdint>
#include <string>
#include <variant>
#include <vector>

namespace bgupdate {

class Engine;
struct Settings;

struct SettingInfo {
    const char* key;
    const char* default_value;
    enum class Type { Integer, Boolean, Function } type;
    int64_t min_value;  // integers only
    const char* description;
    // Where the loaded value goes in Settings.
    std::variant<int64_t Settings::*, double Settings::*, bool Settings::*, std::string Settings::*> field;
};

// Every known setting, in documentation order.
const std::vector<SettingInfo>& all_settings();
const SettingInfo* find_setting(const std::string& key);
// Validate `value` for `key`; returns its normalised text or throws BadInput.
std::string normalise_setting(const std::string& key, const std::string& value);

// The loaded settings. A default-constructed Settings holds every
// setting's default from the table in settings.cpp (the one place they are said).
struct Settings {
    Settings();

    double update_duration_ms;
    bool sleep_enabled;
    int64_t sleep_duration_ms;
    int64_t min_batch_size;
    int64_t default_batch_size;
    int64_t max_failures;
    int64_t lock_timeout_ms;
    int64_t statement_timeout_ms;  // 0: no limit
    int64_t retry_backoff_ms;   // first backoff; doubles per failure
    int64_t max_backoff_ms;
    bool enabled;
    std::string duration_hook, default_batch_size_hook, min_batch_size_hook;  // "" = none
    int64_t max_batch_size;  // 0: no cap
    bool health_pacing;
    // Health checks (common/health.h); 0 / false turns one off.
    int64_t health_check_interval_ms;
    int64_t health_hold_ms;
    int64_t health_max_replica_lag_ms;
    int64_t health_max_replica_lag_mb;
    int64_t health_max_slot_retained_mb;
    bool health_hold_on_vacuum;
    int64_t health_max_archive_ready;
    int64_t health_max_xmin_age_s;
    bool health_hold_on_blocked_sessions;
    int64_t health_max_wal_mb;
    int64_t health_max_wal_flush_waiters;  // off: see the README's measurement
    std::string health_hook;  // "" = none
};

Settings load_settings(Engine& engine);

// Settings that contradict each other (min_batch_size above max_batch_size,
// a statement timeout below the target duration) are refused together, with
// both names: each may be valid alone.
void require_settings_agree(const Settings& settings);

}  // namespace bgupdate
