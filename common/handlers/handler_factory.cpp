#include "../dialect.h"
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
    size_t i;
    json_t* v;
    json_array_foreach(a.get(), i, v) out.emplace_back(json_string_value(v));
    if (out.empty()) throw Error(ErrorKind::Failure, std::string("registration has no \"") + key + "\"");
    return out;
}

bool needs_top_level_statements(HandlerKind kind, const Dialect& dialect) {
    return kind == HandlerKind::Index && dialect.is_postgres();
}

std::unique_ptr<Handler> make_handler(const Registration& reg) {
    Json spec = Json::parse_object(reg.spec_json, "registration of update '" + reg.update_name + "'");
    switch (reg.kind) {
        case HandlerKind::Generic: return make_generic_handler(spec);
        case HandlerKind::Index: return make_index_handler(spec);
        case HandlerKind::ValidateConstraint: return make_validate_constraint_handler(spec);
        case HandlerKind::ValidateConstraintAndDeleteRows: return make_validate_and_delete_rows_handler(spec);
        case HandlerKind::BatchedUpdate: return make_batched_update_handler(spec);
    }
    throw Error(ErrorKind::Failure, "unknown handler kind");
}

}  // namespace bgupdate
