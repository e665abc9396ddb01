#include "json.h"

#include "errors.h"

namespace bgupdate {

Json Json::parse(const std::string& text, const std::string& what) {
    json_error_t err;
    json_t* j = json_loadb(text.data(), text.size(), JSON_DECODE_ANY | JSON_ALLOW_NUL, &err);
    if (!j) bad_input("malformed JSON in " + what + ": " + err.text + " at position " + std::to_string(err.position));
    return Json(j);
}

Json Json::parse_object(const std::string& text, const std::string& what) {
    Json j = parse(text, what);
    if (!json_is_object(j.get())) bad_input(what + " must be a JSON object, got: " + text.substr(0, 80));
    return j;
}

std::string Json::dump() const {
    if (!j_) return "null";
    char* s = json_dumps(j_, JSON_COMPACT | JSON_ENCODE_ANY | JSON_PRESERVE_ORDER);
    std::string out = s ? s : "null";
    free(s);
    return out;
}

Json Json::at(const char* key) const {
    if (!j_ || !json_is_object(j_)) return Json();
    json_t* v = json_object_get(j_, key);
    return v ? Json(json_incref(v)) : Json();
}

std::optional<std::string> Json::get_string(const char* key) const {
    Json v = at(key);
    if (!json_is_string(v.get())) return std::nullopt;
    return std::string(json_string_value(v.get()), json_string_length(v.get()));
}

void Json::set(const char* key, Json value) {
    json_object_set(j_, key, value.get());
}

void Json::append(Json value) {
    json_array_append(j_, value.get());
}

std::vector<std::string> parse_string_array(const std::string& text, const std::string& what) {
    Json j = Json::parse(text, what);
    if (!json_is_array(j.get())) bad_input(what + " must be a JSON array of names, got: " + text.substr(0, 80));
    std::vector<std::string> out;
    size_t i;
    json_t* v;
    json_array_foreach(j.get(), i, v) {
        if (!json_is_string(v)) bad_input(what + " must contain only strings (element " + std::to_string(i) + " is not)");
        out.emplace_back(json_string_value(v), json_string_length(v));
    }
    if (out.empty()) bad_input(what + " must name at least one column");
    return out;
}

Json string_array(const std::vector<std::string>& items) {
    Json a = Json::array();
    for (auto& s : items) a.append(Json(json_stringn(s.data(), s.size())));
    return a;
}

Json values_to_json(const Row& row) {
    Json a = Json::array();
    for (auto& v : row) {
        switch (v.kind) {
            case Value::Kind::Null: a.append(Json(json_null())); break;
            case Value::Kind::Integer: a.append(Json(json_integer(v.integer))); break;
            case Value::Kind::Real: a.append(Json(json_real(v.real))); break;
            case Value::Kind::Text: a.append(Json(json_stringn(v.text.data(), v.text.size()))); break;
        }
    }
    return a;
}

Row json_to_values(const Json& array, const std::string& what) {
    if (!json_is_array(array.get())) bad_input(what + " must be a JSON array");
    Row row;
    size_t i;
    json_t* v;
    json_array_foreach(array.get(), i, v) {
        if (json_is_integer(v)) row.push_back(Value::of(static_cast<int64_t>(json_integer_value(v))));
        else if (json_is_real(v)) row.push_back(Value::of_real(json_real_value(v)));
        else if (json_is_string(v)) row.push_back(Value::of(std::string(json_string_value(v), json_string_length(v))));
        else if (json_is_null(v)) row.push_back(Value::null());
        else bad_input(what + " element " + std::to_string(i) + " must be a number, string or null");
    }
    return row;
}

}  // namespace bgupdate
