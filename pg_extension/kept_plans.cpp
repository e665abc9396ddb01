#include "kept_plans.h"

#include <map>
#include <memory>

namespace bgupdate_pg {

using bgupdate::Value;

// Lives (in TopMemoryContext) as long as its plan: PostgreSQL calls the
// parser setup again whenever it replans.
struct BoundTypes {
    int declared;   // how many values the statement is run with
    int count;      // as the parser saw it (more if the text names more)
    Oid* given;     // bigint, double precision, or unknown (resolved by context)
    Oid* resolved;  // written by the parser
};

static Oid given_type(const Value& v) {
    switch (v.kind) {
        case Value::Kind::Integer: return INT8OID;
        case Value::Kind::Real: return FLOAT8OID;
        case Value::Kind::Null:
        case Value::Kind::Text: break;
    }
    return UNKNOWNOID;
}

// Parser setup of a bound statement: variable parameters (as PREPARE
// without types), starting from the given types every time it is parsed.
static void setup_bound_parameters(ParseState* pstate, void* arg) {
    auto* t = static_cast<BoundTypes*>(arg);
    t->count = t->declared;
    memcpy(t->resolved, t->given, sizeof(Oid) * t->declared);
    setup_parse_variable_parameters(pstate, &t->resolved, &t->count);
}

void prepare_bound(const char* sql, const std::vector<Value>& params, bool keep, KeptPlan* out) {
    const int n = static_cast<int>(params.size());
    MemoryContext cxt = keep ? TopMemoryContext : CurrentMemoryContext;
    auto* t = static_cast<BoundTypes*>(MemoryContextAllocZero(cxt, sizeof(BoundTypes)));
    out->types = t;  // freed with the plan, even should preparing fail
    t->declared = n;
    t->given = static_cast<Oid*>(MemoryContextAlloc(cxt, sizeof(Oid) * (n + 1)));
    t->resolved = static_cast<Oid*>(MemoryContextAlloc(cxt, sizeof(Oid) * (n + 1)));
    for (int i = 0; i < n; i++) t->given[i] = given_type(params[i]);
    SPIPlanPtr plan = SPI_prepare_params(sql, setup_bound_parameters, t, 0);
    if (!plan) elog(ERROR, "SPI_prepare_params failed: %s", SPI_result_code_string(SPI_result));
    if (keep && SPI_keepplan(plan) != 0) elog(ERROR, "SPI_keepplan failed");
    out->plan = plan;
}

int execute_bound(const KeptPlan& kept, const std::vector<Value>& params) {
    const BoundTypes* t = kept.types;
    const int n = static_cast<int>(params.size());
    ParamListInfo list = makeParamList(n);
    for (int i = 0; i < n; i++) {
        const Value& v = params[i];
        ParamExternData* p = &list->params[i];
        p->ptype = i < t->count ? t->resolved[i] : UNKNOWNOID;
        p->pflags = PARAM_FLAG_CONST;
        p->isnull = v.is_null();
        p->value = (Datum)0;
        if (v.is_null()) continue;
        if (v.kind == Value::Kind::Integer && p->ptype == INT8OID) {
            p->value = Int64GetDatum(v.integer);
        } else if (v.kind == Value::Kind::Real && p->ptype == FLOAT8OID) {
            p->value = Float8GetDatum(v.real);
        } else {
            // Text read by the type's input function, exactly as a literal of it.
            char buf[64];
            const char* text = buf;
            if (v.kind == Value::Kind::Text) text = v.text.c_str();
            else if (v.kind == Value::Kind::Integer) snprintf(buf, sizeof buf, "%lld", static_cast<long long>(v.integer));
            else snprintf(buf, sizeof buf, "%.17g", v.real);
            Oid input = InvalidOid, ioparam = InvalidOid;
            getTypeInputInfo(p->ptype, &input, &ioparam);
            p->value = OidInputFunctionCall(input, const_cast<char*>(text), ioparam, -1);
        }
    }
    return SPI_execute_plan_with_paramlist(kept.plan, list, false, 0);
}

void free_plan(KeptPlan* kept) {
    if (kept->plan) SPI_freeplan(kept->plan);
    if (kept->types) {
        if (kept->types->given) pfree(kept->types->given);
        if (kept->types->resolved) pfree(kept->types->resolved);
        pfree(kept->types);
    }
    kept->plan = nullptr;
    kept->types = nullptr;
}

// Enough for the hot statements of many updates; past it a statement is
// planned for its one run (no plan is ever dropped while it may run).
static const size_t kKeptPlans = 256;

static std::map<std::string, std::unique_ptr<KeptPlan>>& kept_plans() {
    static std::map<std::string, std::unique_ptr<KeptPlan>> plans;
    return plans;
}

KeptPlan* kept_plan_for(const std::string& sql, const std::vector<Value>& params) {
    // The given types are part of the plan: the text alone is not the key.
    std::string key;
    key.reserve(sql.size() + params.size() + 1);
    for (const Value& v : params) key += v.kind == Value::Kind::Integer ? 'i' : v.kind == Value::Kind::Real ? 'r' : 'u';
    key += ':';
    key += sql;
    auto& plans = kept_plans();
    auto it = plans.find(key);
    if (it != plans.end()) return it->second.get();
    if (plans.size() >= kKeptPlans) return nullptr;
    return plans.emplace(std::move(key), std::make_unique<KeptPlan>()).first->second.get();
}

void drop_kept_plan(KeptPlan* kept) {
    kept->stale = true;
    if (kept->in_use > 0) return;
    auto& plans = kept_plans();
    for (auto it = plans.begin(); it != plans.end(); ++it)
        if (it->second.get() == kept) {
            free_plan(kept);
            plans.erase(it);
            return;
        }
}

}  // namespace bgupdate_pg
