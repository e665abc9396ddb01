// Finding a user's handler or controller-hook function by name and checking
// its signature: one place for the engine (registration, calls) and the GUC
// check of the hook settings. Plain PostgreSQL code: it may ereport, so C++
// callers wrap it in pg_guard; no C++ objects live across its calls.
#pragma once

#include "pg_headers.h"

namespace bgupdate_pg {

struct FunctionInfo {
    bool found = false;
    Oid oid = InvalidOid;
    int nargs = 0;
    Oid args[FUNC_MAX_ARGS];
    Oid rettype = InvalidOid;
    bool retset = false;
    char prokind = 'f';
    bool may_execute = false;   // by the current user
    char* qualified = nullptr;  // schema.name (palloc'd)
    char* signature = nullptr;  // schema.name(argtypes) (palloc'd)
};

// `name` as to_regproc or, with an argument list, to_regprocedure reads it
// (through the current search_path). out->found is false when there is none.
void find_function(const char* name, FunctionInfo* out);

bool is_int_type(Oid t);
// A controller hook: (update_name text) returning a number.
bool is_hook_signature(const FunctionInfo& f);
// A health hook: (update_name text) returning text (a reason to hold) or NULL.
bool is_health_hook_signature(const FunctionInfo& f);
// A generic handler: (progress json[b], batch_size int) returning an integer.
bool is_handler_signature(const FunctionInfo& f);

}  // namespace bgupdate_pg
