// The one table of handler kinds (see handler_kind.h).
#include "../handler_kind.h"

#include "../dialect.h"
#include "../errors.h"
#include "handler.h"

namespace bgupdate {

namespace {

const HandlerKindTraits kKinds[] = {
    // kind, registry name, calls_application, top_level_on_postgres, application_protocol, make
    {HandlerKind::Generic, "generic", true, false, false, make_generic_handler},
    {HandlerKind::Index, "index", false, true, false, make_index_handler},
    {HandlerKind::ValidateConstraint, "validate_constraint", false, false, false, make_validate_constraint_handler},
    {HandlerKind::ValidateConstraintAndDeleteRows, "validate_constraint_and_delete_rows", false, false, false,
     make_validate_and_delete_rows_handler},
    {HandlerKind::BatchedUpdate, "batched_update", false, false, false, make_batched_update_handler},
    {HandlerKind::Application, "application", true, false, true, make_application_handler},
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

bool needs_top_level_statements(HandlerKind kind, const Dialect& dialect) {
    return handler_kind_traits(kind).top_level_on_postgres && dialect.concurrent_index_builds();
}

}  // namespace bgupdate
