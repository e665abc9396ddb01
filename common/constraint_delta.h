// add_constraint_and_enqueue (Synapse's run_validate_constraint_and_delete_rows_schema_delta).
// PostgreSQL: ADD CONSTRAINT … NOT VALID now and enqueue the background
// validation. SQLite cannot add a constraint to a table: rebuild it now.
#pragma once

#include "api_types.h"
#include "engine.h"
#include "settings.h"

namespace bgupdate {

void add_constraint_and_enqueue_postgres(Engine& engine, const ConstraintDeltaArgs& args, const Settings& settings);
// Returns how many rows failed the constraint and were not copied (also
// recorded in the history). Refuses while a queued update still works on the table.
int64_t rebuild_sqlite_table_with_constraint(Engine& engine, const ConstraintDeltaArgs& args, const Settings& settings);

}  // namespace bgupdate
