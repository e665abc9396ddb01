// SQLite's add_constraint_and_enqueue: SQLite cannot add a constraint to a
// table, so the table is rebuilt now with it (sqlite_table_rebuild.cpp).
#pragma once

#include "constraint_delta.h"
#include "engine.h"

namespace bgupdate_sqlite {

class TableRebuild final : public bgupdate::ConstraintDelta {
public:
    explicit TableRebuild(bgupdate::Engine& engine) : engine_(engine) {}
    // Returns how many rows failed the constraint and were not copied (also
    // recorded in the history). Refuses while a queued update still works on the table.
    int64_t add_constraint_and_enqueue(const bgupdate::ConstraintDeltaArgs& args,
                                       const bgupdate::Settings& settings) override;

private:
    bgupdate::Engine& engine_;
};

}  // namespace bgupdate_sqlite
