// The one table of handler kinds (see handler_kind.h).
#include "../handler_kind.h"

#include "../dialect.h"
#include "../errors.h"
#include "handler.h"

namespace bgupdate {

// Each kind's handler file defines its factory (the handler for a stored
// spec) and its registration (the kind's SQL arguments read in order,
// checked with the Registrar's helpers, its spec saved).
std::unique_ptr<Handler> make_generic_handler(const Json& spec);
void register_generic_update(Registrar& registrar, const RegistrationArguments& args);
std::unique_ptr<Handler> make_index_handler(const Json& spec);
void register_index_update(Registrar& registrar, const RegistrationArguments& args);
std::unique_ptr<Handler> make_validate_constraint_handler(const Json& spec);
void register_validate_constraint(Registrar& registrar, const RegistrationArguments& args);
std::unique_ptr<Handler> make_validate_and_delete_rows_handler(const Json& spec);
void register_validate_and_delete_rows(Registrar& registrar, const RegistrationArguments& args);
std::unique_ptr<Handler> make_batched_update_handler(const Json& spec);
void register_batched_update(Registrar& registrar, const RegistrationArguments& args);
std::unique_ptr<Handler> make_application_handler(const Json& spec);

namespace {

const HandlerKindTraits kKinds[] = {
    // kind, registry name, calls_application, top_level_on_postgres, application_protocol, make,
    // SQL function registering it, its registration
    {HandlerKind::Generic, "generic", true, false, false, make_generic_handler, "register_update_handler",
     register_generic_update},
    {HandlerKind::Index, "index", false, true, false, make_index_handler, "register_index_update",
     register_index_update},
    {HandlerKind::ValidateConstraint, "validate_constraint", false, false, false, make_validate_constraint_handler,
     "register_validate_constraint", register_validate_constraint},
    {HandlerKind::ValidateConstraintAndDeleteRows, "validate_constraint_and_delete_rows", false, false, false,
     make_validate_and_delete_rows_handler, "register_validate_constraint_and_delete_rows",
     register_validate_and_delete_rows},
    {HandlerKind::BatchedUpdate, "batched_update", false, false, false, make_batched_update_handler,
     "register_batched_update", register_batched_update},
    // Registered by register_application_update (Api::register_application_update).
    {HandlerKind::Application, "application", true, false, true, make_application_handler, nullptr, nullptr},
};

}  // namespace

const HandlerKindTraits& handler_kind_traits(HandlerKind kind) {
    for (auto& t : kKinds)
        if (t.kind == kind) return t;
    throw Error(ErrorKind::Failure, "unknown handler kind " + std::to_string(static_cast<int>(kind)));
}

const char* handler_kind_name(HandlerKind kind) { return handler_kind_traits(kind).name; }

HandlerKind handler_kind_from_name(const std::string& name) {
    for (auto& t : kKinds)
        if (name == t.name) return t.kind;
    throw Error(ErrorKind::Failure, "unknown handler kind '" + name + "' in the registry");
}

const HandlerKindTraits* handler_kind_registered_by(const std::string& sql_function) {
    for (auto& t : kKinds)
        if (t.sql_function && sql_function == t.sql_function) return &t;
    return nullptr;
}

bool needs_top_level_statements(HandlerKind kind, const Dialect& dialect) {
    return handler_kind_traits(kind).top_level_on_postgres && dialect.concurrent_index_builds();
}

}  // namespace bgupdate
