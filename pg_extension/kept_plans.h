// Plans of the statements the core runs with bound values (Engine::query /
// exec with params), prepared once and kept for the backend's life: a
// batch's keyset probe, its UPDATE or DELETE and its progress write are then
// parsed and planned once per update, not once per batch. A kept plan
// follows DDL by replanning (PostgreSQL's plan cache); a plan whose
// statement failed is dropped and prepared again on its next use.
#pragma once

#include <string>
#include <vector>

#include "engine.h"
#include "pg_headers.h"

namespace bgupdate_pg {

// How each value is typed: an integer as bigint, a real as double
// precision; text (and NULL) takes the type its context gives it (a key
// column's type), as a literal would.
struct BoundTypes;

struct KeptPlan {
    SPIPlanPtr plan = nullptr;
    BoundTypes* types = nullptr;
    int in_use = 0;      // running now (a nested call may run the same text)
    bool stale = false;  // its statement failed: dropped once no longer in use
};

// The kept plan for `sql` with values of these kinds, prepared on first
// use; nullptr when the store is full (the caller then plans just once).
// C++ only: call outside pg_guard.
KeptPlan* kept_plan_for(const std::string& sql, const std::vector<bgupdate::Value>& params);
// Its statement failed: drop it (now, or when no longer in use).
void drop_kept_plan(KeptPlan* kept);

// Inside pg_guard. Prepares `sql` for these values (SPI_prepare_params);
// kept (SPI_keepplan) when `keep`, else freed by free_plan.
void prepare_bound(const char* sql, const std::vector<bgupdate::Value>& params, bool keep, KeptPlan* out);
// Runs it with the values bound; returns SPI's result code.
int execute_bound(const KeptPlan& kept, const std::vector<bgupdate::Value>& params);
void free_plan(KeptPlan* kept);

}  // namespace bgupdate_pg
