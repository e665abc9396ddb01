// The vocabulary shared by the facade (api.h), the core and the bindings:
// registration arguments and the scope of a runner. The core includes this,
// never the facade.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace bgupdate {

struct IndexUpdateArgs {
    std::string update_name, index_name, table;
    std::vector<std::string> columns;
    std::optional<std::string> where_clause;
    bool is_unique = false;
    bool psql_only = false;
    std::optional<std::string> replaces_index;
};

struct ConstraintDeltaArgs {
    int64_t ordering = 0;
    std::string update_name, table, constraint_name;
    std::string constraint_json;  // {"not_null": "col"} or {"foreign_key": {...}}
    std::string sqlite_table_name, sqlite_table_schema;
};

// A key range fixed for the whole update (GitLab's batch_min_value and
// batch_max_value): see handlers/key_range.h.
struct KeyRangeArgs {
    bool fixed = false;                   // end at the largest key the table holds when the update starts
    std::optional<std::string> min_key;   // JSON: start at this key (inclusive)
    std::optional<std::string> max_key;   // JSON: end at this key (inclusive); implies fixed
};

struct BatchedUpdateArgs {
    std::string update_name, table;
    std::vector<std::string> key_columns;
    std::string set_clause;
    std::optional<std::string> where_clause;
    KeyRangeArgs range;
};

// Which updates a runner may pick (a thread without the application's
// functions skips generic handlers; a PostgreSQL session only its own).
struct RunScope {
    bool declarative_only = false;
    bool only_manageable = false;  // see only updates the caller may manage (Engine::may_manage)
    bool only_own_role = false;    // run only the caller's own role's updates (Engine::is_caller)
    bool ignore_enabled = false;   // finish() runs even when disabled
    bool application_batch = false;  // batch_begin(): only updates the application runs itself
    // PostgreSQL: the application's own transaction is the batch (it
    // commits or rolls back); the runner opens and commits nothing itself.
    bool callers_transaction = false;
};

}  // namespace bgupdate
