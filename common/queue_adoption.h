// One queue, whatever created `background_updates` first. Synapse's own
// schema creates a `background_updates` table and its deltas insert into it
// unqualified. SQLite: that table IS the queue (same name, same shape); a
// full-schema snapshot that creates it again gets the queue set aside while
// it runs and its rows merged back. PostgreSQL: the queue is
// bgupdate.background_updates; a `background_updates` table found on the
// search_path has its rows moved into the queue and is replaced by an
// automatically updatable view of the same name over the queue (created where
// none exists), so unqualified reads and writes reach the queue. Synapse's
// schema-state tables (schema_version, schema_compat_version,
// applied_schema_deltas) are treated the same way on PostgreSQL, so an
// existing Synapse database keeps its version and applied deltas.
// Each binding implements QueueAdoption (Engine::queue_adoption):
// pg_extension/queue_adoption_postgres.*, sqlite_extension/queue_adoption_sqlite.*.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace bgupdate {

struct AdoptionResult {
    bool adopted_table = false;  // a separate table was merged into the queue
    bool created_view = false;   // PostgreSQL: the view was created
    int64_t rows_moved = 0;
    // PostgreSQL: Synapse's schema_version, schema_compat_version and
    // applied_schema_deltas tables adopted the same way (an existing Synapse
    // database keeps its schema state).
    int64_t schema_tables_adopted = 0;
};

class QueueAdoption {
public:
    virtual ~QueueAdoption() = default;
    // Call inside a batch. Safe to call repeatedly (a no-op once done).
    virtual AdoptionResult adopt_queue() = 0;
    // Around a full-schema snapshot (inside one batch): make room for the
    // snapshot's own CREATE TABLE background_updates, then adopt what it made.
    virtual void set_queue_aside_for_snapshot() = 0;
    virtual AdoptionResult take_queue_back_after_snapshot() = 0;
};

// Shared by the bindings: whether `cols` has column `c`, and the columns to
// copy from a Synapse-shaped table named `what` in messages (older Synapse
// schemas lack depends_on and ordering; the queue's defaults fill them).
bool has_column(const std::vector<std::string>& cols, const char* c);
std::string synapse_queue_columns(const std::vector<std::string>& cols, const std::string& what);

}  // namespace bgupdate
