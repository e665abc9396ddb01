#include "function_lookup.h"

#include <cstring>

namespace bgupdate_pg {

// to_regproc/to_regprocedure return NULL for a missing function, which
// DirectFunctionCall does not allow: call them by hand.
static Oid regproc_lookup(PGFunction fn, const char* name) {
    LOCAL_FCINFO(fc, 1);
    InitFunctionCallInfoData(*fc, nullptr, 1, InvalidOid, nullptr, nullptr);
    fc->args[0].value = CStringGetTextDatum(name);
    fc->args[0].isnull = false;
    Datum d = fn(fc);
    return fc->isnull ? InvalidOid : DatumGetObjectId(d);
}

void find_function(const char* name, FunctionInfo* out) {
    Oid oid = regproc_lookup(strchr(name, '(') ? to_regprocedure : to_regproc, name);
    if (!OidIsValid(oid)) return;
    HeapTuple tup = SearchSysCache1(PROCOID, ObjectIdGetDatum(oid));
    if (!HeapTupleIsValid(tup)) return;
    Form_pg_proc p = (Form_pg_proc)GETSTRUCT(tup);
    out->found = true;
    out->oid = oid;
    out->nargs = p->pronargs;
    for (int i = 0; i < p->pronargs; i++) out->args[i] = p->proargtypes.values[i];
    out->rettype = p->prorettype;
    out->retset = p->proretset;
    out->prokind = p->prokind;
    out->qualified = quote_qualified_identifier(get_namespace_name(p->pronamespace), NameStr(p->proname));
    ReleaseSysCache(tup);
    out->signature = format_procedure_qualified(oid);
    out->may_execute = pg_proc_aclcheck(oid, GetUserId(), ACL_EXECUTE) == ACLCHECK_OK;
}

bool is_int_type(Oid t) { return t == INT2OID || t == INT4OID || t == INT8OID; }

static bool is_number_type(Oid t) { return is_int_type(t) || t == NUMERICOID || t == FLOAT4OID || t == FLOAT8OID; }

static bool plain_function(const FunctionInfo& f) { return f.found && f.prokind == PROKIND_FUNCTION && !f.retset; }

bool is_hook_signature(const FunctionInfo& f) {
    return plain_function(f) && f.nargs == 1 && (f.args[0] == TEXTOID || f.args[0] == VARCHAROID) &&
           is_number_type(f.rettype);
}

bool is_health_hook_signature(const FunctionInfo& f) {
    return plain_function(f) && f.nargs == 1 && (f.args[0] == TEXTOID || f.args[0] == VARCHAROID) &&
           (f.rettype == TEXTOID || f.rettype == VARCHAROID);
}

bool is_handler_signature(const FunctionInfo& f) {
    return plain_function(f) && f.nargs == 2 && (f.args[0] == JSONBOID || f.args[0] == JSONOID) &&
           is_int_type(f.args[1]) && is_int_type(f.rettype);
}

}  // namespace bgupdate_pg
