// add_constraint_and_enqueue (Synapse's run_validate_constraint_and_delete_rows_schema_delta):
// how an engine adds a constraint to a table that already holds rows. Each
// binding implements it (Engine::constraint_delta): PostgreSQL adds the
// constraint NOT VALID now and enqueues its background validation
// (pg_extension/constraint_delta_postgres.*); SQLite cannot add a constraint
// to a table, so it rebuilds the table now (sqlite_extension/sqlite_table_rebuild.*).
#pragma once

#include <cstdint>

#include "api_types.h"
#include "settings.h"

namespace bgupdate {

class ConstraintDelta {
public:
    virtual ~ConstraintDelta() = default;
    // Returns how many rows failed the constraint and were removed now (0
    // when they are left to the enqueued validation).
    virtual int64_t add_constraint_and_enqueue(const ConstraintDeltaArgs& args, const Settings& settings) = 0;
};

}  // namespace bgupdate
