#include "port_registrations.h"

#include <map>
#include <set>

namespace bgtool {
namespace {

// One register_* call per kind, its arguments taken from the stored spec ($2, jsonb).
const std::map<std::string, std::string>& calls() {
    static const std::map<std::string, std::string> c{
        {"generic", "bgupdate.register_update_handler($1, s->>'function')"},
        {"index", "bgupdate.register_index_update($1, s->>'index_name', s->>'table',"
                  " ARRAY(SELECT jsonb_array_elements_text(s->'columns')), s->>'where_clause',"
                  " coalesce((s->>'is_unique')::boolean, false), coalesce((s->>'psql_only')::boolean, false),"
                  " s->>'replaces_index')"},
        {"validate_constraint", "bgupdate.register_validate_constraint($1, s->>'constraint_name', s->>'table')"},
        {"validate_constraint_and_delete_rows",
         "bgupdate.register_validate_constraint_and_delete_rows($1, s->>'table', s->>'constraint_name',"
         " s->'constraint', ARRAY(SELECT jsonb_array_elements_text(s->'unique_columns')))"},
        {"batched_update", "bgupdate.register_batched_update($1, s->>'table',"
                           " ARRAY(SELECT jsonb_array_elements_text(s->'key_columns')), s->>'set_clause', s->>'where_clause')"},
        {"application", "bgupdate.register_application_update($1)"},
    };
    return c;
}

}  // namespace

RegistrationsCarried carry_registrations(Connection& src, Connection& dst) {
    RegistrationsCarried out;
    std::set<std::string> present;
    for (auto& r : dst.query("SELECT update_name FROM bgupdate.update_registry").rows) present.insert(*r[0]);
    for (auto& r : src.query("SELECT update_name, kind, spec_json FROM bgupdate_registry ORDER BY update_name").rows) {
        const std::string& name = *r[0];
        if (present.count(name)) {
            out.kept.push_back(name);
            continue;
        }
        auto call = calls().find(r[1].value_or(""));
        if (call == calls().end())
            throw DbError("the registration of '" + name + "' has a kind the target does not know: " + r[1].value_or(""));
        try {
            dst.query("SELECT " + call->second + " FROM (SELECT $2::jsonb AS s) spec",
                      {Param::text(name), Param::text(r[2].value_or("{}"))});
        } catch (const DbError& e) {
            throw DbError("the registration of '" + name + "' (" + *r[1] + ") cannot be made on the target: " + e.what());
        }
        out.registered.push_back(name);
    }
    return out;
}

}  // namespace bgtool
