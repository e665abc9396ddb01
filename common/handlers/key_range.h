// A key range fixed for a whole update (GitLab's batch_min_value and
// batch_max_value), for the key-range handlers (batched updates,
// validate-and-delete). Without it a scan follows the table to its last row,
// new rows included, and under a steady insert rate may never end. With it,
// the scan ends at `max_key`: given at registration, or the largest key the
// table holds when the update starts (its first batch), kept in the progress
// as "max_key". `min_key` makes the scan start there instead of at the first row.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "../engine.h"
#include "../json.h"
#include "keyset.h"

namespace bgupdate {

struct KeyRangeSpec {
    bool fixed = false;  // the scan ends at a max_key (given, or captured when the update starts)
    std::optional<Row> min_key, max_key;

    // As registration stored it ("fixed_range", "min_key", "max_key").
    static KeyRangeSpec from_spec(const Json& spec);
    // Registration: checks bounds given as JSON (an array of one value per key
    // column, or a bare value for a one-column key) and writes them to `spec`.
    static void store(Json& spec, bool fixed, const std::optional<std::string>& min_json,
                      const std::optional<std::string>& max_json, const std::vector<std::string>& keys,
                      const std::string& update_name);
};

// The progress's captured end of the range ("max_key"), or the given one; nullopt when open.
std::optional<Row> range_end(const KeyRangeSpec& range, const Json& progress, const std::string& update_name);

// Fixes the end of a fixed range that has none yet in `progress`: the given
// max_key, else the largest key of `from` now. false when the table is empty
// then (nothing is in the range: the update has nothing to do).
bool capture_range_end(Engine& engine, const KeyRangeSpec& range, const std::string& from,
                       const std::vector<std::string>& keys, Json& progress);

// An estimate of the rows in the range of `from` (planner estimate on
// PostgreSQL, a count on SQLite): what percent and ETA are measured against.
std::optional<int64_t> rows_in_range(Engine& engine, const std::string& from, const KeysetScope& scope,
                                     const std::vector<std::string>& keys);

}  // namespace bgupdate
