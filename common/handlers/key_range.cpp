#include "key_range.h"

#include "../dialect.h"
#include "../errors.h"

namespace bgupdate {

namespace {

// A bound as JSON: an array of one scalar per key column, or a bare scalar
// for a one-column key. Returned as an array.
Json bound_from_text(const std::string& text, const std::vector<std::string>& keys, const std::string& what) {
    Json j = Json::parse(text, what);
    if (!j.is_array()) {
        if (keys.size() != 1)
            bad_input(what + " must be a JSON array of " + std::to_string(keys.size()) +
                      " values (one per key column), got: " + text.substr(0, 80));
        Json a = Json::array();
        a.append(j);
        j = a;
    }
    Row row = json_to_values(j, what);
    if (row.size() != keys.size())
        bad_input(what + " has " + std::to_string(row.size()) + " values but the key has " +
                  std::to_string(keys.size()) + " columns");
    for (size_t i = 0; i < row.size(); ++i)
        if (row[i].is_null()) bad_input(what + " holds null for key column '" + keys[i] + "': keys are never NULL");
    return values_to_json(row);
}

bool all_numbers(const Row& r) {
    for (auto& v : r)
        if (v.kind != Value::Kind::Integer && v.kind != Value::Kind::Real) return false;
    return true;
}

// Row comparison of numeric bounds (other types compare by the engine's
// rules and collation, which only the database knows).
int compare_numbers(const Row& a, const Row& b) {
    for (size_t i = 0; i < a.size(); ++i) {
        double x = a[i].as_real(), y = b[i].as_real();
        if (a[i].kind == Value::Kind::Integer && b[i].kind == Value::Kind::Integer) {
            if (a[i].integer != b[i].integer) return a[i].integer < b[i].integer ? -1 : 1;
        } else if (x != y) {
            return x < y ? -1 : 1;
        }
    }
    return 0;
}

}  // namespace

KeyRangeSpec KeyRangeSpec::from_spec(const Json& spec) {
    KeyRangeSpec r;
    r.fixed = spec.at("fixed_range").is_true();
    if (spec.at("min_key").is_array()) r.min_key = json_to_values(spec.at("min_key"), "registration min_key");
    if (spec.at("max_key").is_array()) {
        r.max_key = json_to_values(spec.at("max_key"), "registration max_key");
        r.fixed = true;
    }
    return r;
}

void KeyRangeSpec::store(Json& spec, bool fixed, const std::optional<std::string>& min_json,
                         const std::optional<std::string>& max_json, const std::vector<std::string>& keys,
                         const std::string& update_name) {
    std::optional<Json> min, max;
    if (min_json) min = bound_from_text(*min_json, keys, "min_key of '" + update_name + "'");
    if (max_json) max = bound_from_text(*max_json, keys, "max_key of '" + update_name + "'");
    if (min && max) {
        Row lo = json_to_values(*min, "min_key"), hi = json_to_values(*max, "max_key");
        if (all_numbers(lo) && all_numbers(hi) && compare_numbers(lo, hi) > 0)
            bad_input("min_key " + min->dump() + " of '" + update_name + "' is greater than its max_key " +
                      max->dump() + ": the range would be empty");
    }
    // Only what differs from the default is stored, so a registration
    // without these options reads exactly as before they existed.
    if (fixed || max) spec.set_bool("fixed_range", true);
    if (min) spec.set("min_key", *min);
    if (max) spec.set("max_key", *max);
}

std::optional<Row> range_end(const KeyRangeSpec& range, const Json& progress, const std::string& update_name) {
    if (!range.fixed) return std::nullopt;
    Json captured = progress.at("max_key");
    if (!captured.is_null()) return json_to_values(captured, "progress max_key of '" + update_name + "'");
    return range.max_key;
}

bool capture_range_end(Engine& engine, const KeyRangeSpec& range, const std::string& from,
                       const std::vector<std::string>& keys, Json& progress) {
    if (!range.fixed || !progress.at("max_key").is_null()) return true;
    std::optional<Row> end = range.max_key ? range.max_key : largest_key(engine, from, keys);
    if (!end) return false;
    progress.set("max_key", values_to_json(*end));
    return true;
}

std::optional<int64_t> rows_in_range(Engine& engine, const std::string& from, const KeysetScope& scope,
                                     const std::vector<std::string>& keys) {
    const Dialect& d = engine.dialect();
    auto rows = engine.query(d.range_row_estimate_sql(from, keyset_range_predicate(d, scope, keys)));
    if (rows.empty() || rows[0].empty() || rows[0][0].is_null()) return std::nullopt;
    const Value& v = rows[0][0];
    if (v.kind == Value::Kind::Integer) return v.integer;
    // PostgreSQL's EXPLAIN (FORMAT JSON): [{"Plan": {"Plan Rows": N, ...}}]
    Json plan = Json::parse(v.as_text(), "EXPLAIN output").element(0).at("Plan").at("Plan Rows");
    if (auto n = plan.as_integer()) return *n;
    return std::nullopt;
}

}  // namespace bgupdate
