// The kinds of handler and what distinguishes them, in one table
// (handlers/handler_kinds.cpp): the name stored in the registry, whether the
// kind calls the application's own code, whether it needs statements outside
// a transaction, how its handler is built, and which SQL function registers
// it (reading that function's arguments into a checked spec).
#pragma once

#include <memory>
#include <string>

namespace bgupdate {

class Dialect;
class Handler;
class Json;
class Registrar;
class RegistrationArguments;

enum class HandlerKind {
    Generic,
    Index,
    ValidateConstraint,
    ValidateConstraintAndDeleteRows,
    BatchedUpdate,
    Application,  // the application runs each batch itself: batch_begin() ... batch_end()
};

struct HandlerKindTraits {
    HandlerKind kind;
    const char* name;              // as stored in the registry
    bool calls_application;        // runs an application-defined function: not for a background thread
    bool top_level_on_postgres;    // CREATE INDEX CONCURRENTLY: not inside a caller's transaction
    bool application_protocol;     // only batch_begin()/batch_end() run it, never step() or a worker
    std::unique_ptr<Handler> (*make)(const Json& spec);
    // The SQL function (sql_surface.h) whose call registers an update of this
    // kind through `register_update`; nullptr: registered otherwise.
    const char* sql_function;
    void (*register_update)(Registrar& registrar, const RegistrationArguments& args);
};

const HandlerKindTraits& handler_kind_traits(HandlerKind kind);
const char* handler_kind_name(HandlerKind kind);
// Throws a Failure naming the unknown kind (a damaged registry row).
HandlerKind handler_kind_from_name(const std::string& name);
// The kind the SQL function `sql_function` registers; nullptr when none.
const HandlerKindTraits* handler_kind_registered_by(const std::string& sql_function);
// Whether this kind must run statements outside any transaction on this dialect.
bool needs_top_level_statements(HandlerKind kind, const Dialect& dialect);

}  // namespace bgupdate
