#include "../dialect.h"
#include "../handler_kind.h"
#include "../errors.h"
#include "handler.h"

namespace bgupdate {

std::string spec_string(const Json& spec, const char* key) {
    auto v = spec.get_string(key);
    if (!v) throw Error(ErrorKind::Failure, std::string("registration is missing \"") + key + "\"");
    return *v;
}

std::optional<std::string> spec_optional_string(const Json& spec, const char* key) {
    return spec.get_string(key);
}

std::vector<std::string> spec_string_list(const Json& spec, const char* key) {
    Json a = spec.at(key);
    std::vector<std::string> out;
    for (size_t i = 0; i < a.size(); ++i)
        if (auto s = a.element(i).as_string()) out.push_back(*s);
    if (out.empty()) throw Error(ErrorKind::Failure, std::string("registration has no \"") + key + "\"");
    return out;
}

static std::optional<int64_t> single_integer(Engine& engine, const std::string& sql) {
    if (sql.empty()) return std::nullopt;
    auto rows = engine.query(sql);
    if (rows.empty() || rows[0][0].is_null()) return std::nullopt;
    return rows[0][0].as_int();
}

std::optional<int64_t> table_rows(Engine& engine, const std::string& table) {
    return single_integer(engine, engine.dialect().row_estimate_sql(table));
}

bool table_has_statistics(Engine& engine, const std::string& table) {
    std::string sql = engine.dialect().has_statistics_sql(table);
    if (sql.empty()) return true;
    auto rows = engine.query(sql);
    if (rows.empty() || rows[0][0].is_null()) return false;
    const Value& v = rows[0][0];
    return v.kind == Value::Kind::Text ? (v.text == "t" || v.text == "true") : v.as_int() != 0;
}

std::unique_ptr<Handler> make_handler(const Registration& reg) {
    Json spec = Json::parse_object(reg.spec_json, "registration of update '" + reg.update_name + "'");
    return handler_kind_traits(reg.kind).make(spec);
}

}  // namespace bgupdate
