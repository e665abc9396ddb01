#include "json.h"

#include <jansson.h>

#include <utility>

#include "errors.h"

namespace bgupdate {

// A copy shares the document (jansson's reference count): changing a copy
// changes the original, as changing at()'s result changes its parent. Take
// deep_copy() for an independent one.
Json::Json(const Json& o) : j_(o.j_ ? json_incref(o.j_) : nullptr) {}
Json& Json::operator=(Json o) noexcept {
    std::swap(j_, o.j_);
    return *this;
}
Json::~Json() {
    if (j_) json_decref(j_);
}

Json Json::object() { return Json(json_object()); }
Json Json::array() { return Json(json_array()); }
Json Json::of(const std::string& s) { return Json(json_stringn(s.data(), s.size())); }
Json Json::of(int64_t v) { return Json(json_integer(v)); }
Json Json::of_real(double v) { return Json(json_real(v)); }
Json Json::boolean(bool v) { return Json(json_boolean(v)); }

Json Json::parse(const std::string& text, const std::string& what) {
    json_error_t err;
    json_t* j = json_loadb(text.data(), text.size(), JSON_DECODE_ANY | JSON_ALLOW_NUL, &err);
    if (!j) bad_input("malformed JSON in " + what + ": " + err.text + " at position " + std::to_string(err.position));
    return Json(j);
}

Json Json::parse_object(const std::string& text, const std::string& what) {
    Json j = parse(text, what);
    if (!j.is_object()) bad_input(what + " must be a JSON object, got: " + text.substr(0, 80));
    return j;
}

bool Json::is_null() const { return !j_ || json_is_null(j_); }
bool Json::is_object() const { return j_ && json_is_object(j_); }
bool Json::is_array() const { return j_ && json_is_array(j_); }
bool Json::is_string() const { return j_ && json_is_string(j_); }
bool Json::is_boolean() const { return j_ && json_is_boolean(j_); }
bool Json::is_true() const { return j_ && json_is_true(j_); }

std::string Json::dump() const {
    if (!j_) return "null";
    char* s = json_dumps(j_, JSON_COMPACT | JSON_ENCODE_ANY | JSON_PRESERVE_ORDER);
    std::string out = s ? s : "null";
    free(s);
    return out;
}

std::optional<std::string> Json::as_string() const {
    if (!is_string()) return std::nullopt;
    return std::string(json_string_value(j_), json_string_length(j_));
}

std::optional<int64_t> Json::as_integer() const {
    if (!j_ || !json_is_integer(j_)) return std::nullopt;
    return static_cast<int64_t>(json_integer_value(j_));
}

size_t Json::size() const { return is_array() ? json_array_size(j_) : 0; }

Json Json::element(size_t i) const {
    if (!is_array()) return Json();
    json_t* v = json_array_get(j_, i);
    return v ? Json(json_incref(v)) : Json();
}

void Json::append(Json value) {
    // A null Json stands for JSON null: store a real null value.
    json_array_append_new(j_, value.j_ ? json_incref(value.j_) : json_null());
}

Json Json::at(const char* key) const {
    if (!is_object()) return Json();
    json_t* v = json_object_get(j_, key);
    return v ? Json(json_incref(v)) : Json();
}

Json Json::deep_copy() const { return j_ ? Json(json_deep_copy(j_)) : Json(); }

bool Json::has(const char* key) const { return is_object() && json_object_get(j_, key) != nullptr; }

std::vector<std::string> Json::keys() const {
    std::vector<std::string> out;
    if (!is_object()) return out;
    const char* key;
    json_t* v;
    json_object_foreach(j_, key, v) {
        (void)v;
        out.emplace_back(key);
    }
    return out;
}

std::optional<std::string> Json::get_string(const char* key) const { return at(key).as_string(); }

void Json::set(const char* key, Json value) {
    json_object_set_new(j_, key, value.j_ ? json_incref(value.j_) : json_null());
}

void Json::erase(const char* key) {
    if (j_ && json_is_object(j_)) json_object_del(j_, key);
}

std::vector<std::string> parse_string_array(const std::string& text, const std::string& what) {
    Json j = Json::parse(text, what);
    if (!j.is_array()) bad_input(what + " must be a JSON array of names, got: " + text.substr(0, 80));
    std::vector<std::string> out;
    for (size_t i = 0; i < j.size(); ++i) {
        auto s = j.element(i).as_string();
        if (!s) bad_input(what + " must contain only strings (element " + std::to_string(i) + " is not)");
        out.push_back(*s);
    }
    if (out.empty()) bad_input(what + " must name at least one column");
    return out;
}

Json string_array(const std::vector<std::string>& items) {
    Json a = Json::array();
    for (auto& s : items) a.append(Json::of(s));
    return a;
}

Json values_to_json(const Row& row) {
    Json a = Json::array();
    for (auto& v : row) {
        switch (v.kind) {
            case Value::Kind::Null: a.append(Json()); break;
            case Value::Kind::Integer: a.append(Json::of(v.integer)); break;
            case Value::Kind::Real: a.append(Json::of_real(v.real)); break;
            case Value::Kind::Text: a.append(Json::of(v.text)); break;
        }
    }
    return a;
}

Row json_to_values(const Json& array, const std::string& what) {
    if (!array.is_array()) bad_input(what + " must be a JSON array");
    Row row;
    size_t i;
    json_t* v;
    json_array_foreach(array.j_, i, v) {
        if (json_is_integer(v)) row.push_back(Value::of(static_cast<int64_t>(json_integer_value(v))));
        else if (json_is_real(v)) row.push_back(Value::of_real(json_real_value(v)));
        else if (json_is_string(v)) row.push_back(Value::of(std::string(json_string_value(v), json_string_length(v))));
        else if (json_is_null(v)) row.push_back(Value::null());
        else bad_input(what + " element " + std::to_string(i) + " must be a number, string or null");
    }
    return row;
}

}  // namespace bgupdate
