// Settings: SPEC's (Synapse's) defaults, and validation errors that name the key.
#include <gtest/gtest.h>

#include <cstring>
#include <string>

#include "errors.h"
#include "settings.h"

using bgupdate::find_setting;
using bgupdate::normalise_setting;
using bgupdate::SettingInfo;

namespace {

// The message of the BadInput error normalise_setting throws ("" if none).
std::string normalise_error(const std::string& key, const std::string& value) {
    try {
        normalise_setting(key, value);
    } catch (const bgupdate::Error& e) {
        EXPECT_EQ(e.kind(), bgupdate::ErrorKind::BadInput);
        return e.what();
    }
    return "";
}

std::string default_of(const std::string& key) {
    const SettingInfo* info = find_setting(key);
    return info ? info->default_value : "<missing>";
}

}  // namespace

TEST(Settings, DefaultsAreSynapses) {
    EXPECT_EQ(default_of("update_duration_ms"), "100");
    EXPECT_EQ(default_of("sleep_enabled"), "true");
    EXPECT_EQ(default_of("sleep_duration_ms"), "1000");
    EXPECT_EQ(default_of("min_batch_size"), "1");
    EXPECT_EQ(default_of("default_batch_size"), "100");
    EXPECT_EQ(default_of("max_failures"), "5");
}

TEST(Settings, StructDefaultsMatchTable) {
    bgupdate::Settings s;
    EXPECT_EQ(s.update_duration_ms, 100);
    EXPECT_TRUE(s.sleep_enabled);
    EXPECT_EQ(s.sleep_duration_ms, 1000);
    EXPECT_EQ(s.min_batch_size, 1);
    EXPECT_EQ(s.default_batch_size, 100);
    EXPECT_EQ(s.max_failures, 5);
    EXPECT_TRUE(s.enabled);
    // Every default passes its own validation unchanged.
    for (const auto& info : bgupdate::all_settings()) {
        EXPECT_EQ(normalise_setting(info.key, info.default_value), info.default_value) << info.key;
    }
}

TEST(Settings, KeysAreUniqueAndFindable) {
    const auto& all = bgupdate::all_settings();
    for (size_t i = 0; i < all.size(); ++i) {
        EXPECT_EQ(find_setting(all[i].key), &all[i]);
        for (size_t j = i + 1; j < all.size(); ++j) EXPECT_STRNE(all[i].key, all[j].key);
    }
    EXPECT_EQ(find_setting("no_such_setting"), nullptr);
}

TEST(Settings, NormalisesValidValues) {
    EXPECT_EQ(normalise_setting("min_batch_size", "5"), "5");
    EXPECT_EQ(normalise_setting("default_batch_size", "20"), "20");
    EXPECT_EQ(normalise_setting("sleep_duration_ms", "0"), "0");
    EXPECT_EQ(normalise_setting("sleep_enabled", "false"), "false");
    EXPECT_EQ(normalise_setting("sleep_enabled", "true"), "true");
    EXPECT_EQ(normalise_setting("sleep_enabled", "0"), "false");
    EXPECT_EQ(normalise_setting("sleep_enabled", "on"), "true");
}

TEST(Settings, RejectsNegativeNumbers) {
    for (const char* key : {"update_duration_ms", "sleep_duration_ms", "min_batch_size", "default_batch_size",
                            "max_failures", "lock_timeout_ms", "retry_backoff_ms", "max_backoff_ms"}) {
        const std::string msg = normalise_error(key, "-1");
        EXPECT_NE(msg, "") << key;
        EXPECT_NE(msg.find(key), std::string::npos) << msg;
    }
}

TEST(Settings, RejectsZeroBatchSizes) {
    // A batch of zero items would never make progress.
    EXPECT_NE(normalise_error("min_batch_size", "0").find("min_batch_size"), std::string::npos);
    EXPECT_NE(normalise_error("default_batch_size", "0").find("default_batch_size"), std::string::npos);
}

TEST(Settings, RejectsNonNumbers) {
    for (const char* value : {"", "abc", "12abc", "1.5", "99999999999999999999999"}) {
        const std::string msg = normalise_error("default_batch_size", value);
        EXPECT_NE(msg.find("default_batch_size"), std::string::npos) << "value '" << value << "': " << msg;
    }
}

TEST(Settings, RejectsNonBooleans) {
    const std::string msg = normalise_error("sleep_enabled", "maybe");
    EXPECT_NE(msg.find("sleep_enabled"), std::string::npos) << msg;
}

TEST(Settings, RejectsUnknownKeys) {
    const std::string msg = normalise_error("batch_sise", "10");
    EXPECT_NE(msg.find("batch_sise"), std::string::npos) << msg;
}
