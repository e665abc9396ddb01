// Small RAII layer over jansson: parsing with errors that name what was
// being parsed, typed getters, and dumping.
#pragma once

#include <jansson.h>

#include <optional>
#include <string>
#include <vector>

#include "engine.h"

namespace bgupdate {

class Json {
public:
    Json() = default;
    explicit Json(json_t* owned) : j_(owned) {}  // takes ownership
    Json(const Json& o) : j_(o.j_ ? json_incref(o.j_) : nullptr) {}
    Json(Json&& o) noexcept : j_(o.j_) { o.j_ = nullptr; }
    Json& operator=(Json o) { std::swap(j_, o.j_); return *this; }
    ~Json() { if (j_) json_decref(j_); }

    static Json object() { return Json(json_object()); }
    static Json array() { return Json(json_array()); }
    // Parse; `what` names the thing in the error ("progress of update 'x'").
    static Json parse(const std::string& text, const std::string& what);
    // Parse and require a JSON object.
    static Json parse_object(const std::string& text, const std::string& what);

    json_t* get() const { return j_; }
    bool is_null() const { return !j_ || json_is_null(j_); }
    std::string dump() const;  // compact, keys in insertion order

    // Object access.
    Json at(const char* key) const;  // null Json when missing
    std::optional<std::string> get_string(const char* key) const;
    void set(const char* key, Json value);
    void set(const char* key, const std::string& value) { set(key, Json(json_string(value.c_str()))); }
    void set(const char* key, const char* value) { set(key, std::string(value)); }
    void set(const char* key, int64_t value) { set(key, Json(json_integer(value))); }
    void set(const char* key, double value) { set(key, Json(json_real(value))); }
    void set_bool(const char* key, bool value) { set(key, Json(json_boolean(value))); }
    void set_null(const char* key) { set(key, Json(json_null())); }
    void append(Json value);

private:
    json_t* j_ = nullptr;
};

// A JSON array of strings, e.g. a column list; `what` names the argument in errors.
std::vector<std::string> parse_string_array(const std::string& text, const std::string& what);
Json string_array(const std::vector<std::string>& items);

// Keyset bounds: a row of values <-> a JSON array (integers stay integers).
Json values_to_json(const Row& row);
Row json_to_values(const Json& array, const std::string& what);

}  // namespace bgupdate
