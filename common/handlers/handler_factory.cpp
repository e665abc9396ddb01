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

std::unique_ptr<Handler> make_handler(const Registration& reg) {
    Json spec = Json::parse_object(reg.spec_json, "registration of update '" + reg.update_name + "'");
    return handler_kind_traits(reg.kind).make(spec);
}

}  // namespace bgupdate
