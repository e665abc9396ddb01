// Small RAII layer over jansson: parsing with errors that name what was
// being parsed, typed getters, and dumping. jansson itself stays behind this
// header (only json.cpp includes it), so bindings that cannot include it next
// to their engine's headers (PostgreSQL defines its own json_object) use this.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "engine.h"

struct json_t;  // jansson's value; defined only where json.cpp includes jansson

namespace bgupdate {

class Json {
public:
    Json() = default;  // JSON null
    Json(const Json& o);
    Json(Json&& o) noexcept : j_(o.j_) { o.j_ = nullptr; }
    Json& operator=(Json o) noexcept;
    ~Json();

    static Json object();
    static Json array();
    static Json of(const std::string& s);
    static Json of(int64_t v);
    static Json of_real(double v);
    static Json boolean(bool v);
    // Parse; `what` names the thing in the error ("progress of update 'x'").
    static Json parse(const std::string& text, const std::string& what);
    // Parse and require a JSON object.
    static Json parse_object(const std::string& text, const std::string& what);

    bool is_null() const;
    bool is_object() const;
    bool is_array() const;
    bool is_string() const;
    bool is_boolean() const;
    bool is_true() const;
    std::string dump() const;  // compact, keys in insertion order

    // Scalars: nullopt when of another type.
    std::optional<std::string> as_string() const;
    std::optional<int64_t> as_integer() const;

    // Array access: size 0 and null elements when not an array.
    size_t size() const;
    Json element(size_t i) const;
    void append(Json value);

    // Copies share the value (reference counted); this one does not.
    Json deep_copy() const;

    // Object access.
    Json at(const char* key) const;  // null Json when missing
    bool has(const char* key) const;
    std::vector<std::string> keys() const;  // in insertion order; none when not an object
    std::optional<std::string> get_string(const char* key) const;
    void set(const char* key, Json value);
    void set(const char* key, const std::string& value) { set(key, of(value)); }
    void set(const char* key, const char* value) { set(key, of(std::string(value))); }
    void set(const char* key, int64_t value) { set(key, of(value)); }
    void set(const char* key, double value) { set(key, of_real(value)); }
    void set_bool(const char* key, bool value) { set(key, boolean(value)); }
    void set_null(const char* key) { set(key, Json()); }
    void erase(const char* key);  // no-op when missing

private:
    explicit Json(json_t* owned) : j_(owned) {}  // takes ownership
    json_t* j_ = nullptr;
    friend Json values_to_json(const Row& row);
    friend Row json_to_values(const Json& array, const std::string& what);
};

// A JSON array of strings, e.g. a column list; `what` names the argument in errors.
std::vector<std::string> parse_string_array(const std::string& text, const std::string& what);
Json string_array(const std::vector<std::string>& items);

// Keyset bounds: a row of values <-> a JSON array (integers stay integers).
Json values_to_json(const Row& row);
Row json_to_values(const Json& array, const std::string& what);

}  // namespace bgupdate
