#include "guc.h"

#include <climits>
#include <cstdlib>
#include <string>

#include "function_lookup.h"
#include "pg_headers.h"
#include "settings.h"
#include "shmem.h"

namespace bgupdate_pg {

int naptime_ms = 1000;
int launcher_rescan_ms = 10000;
int worker_turn_ms = 60000;
bool worker_enabled = true;

namespace {
constexpr int kMaxSettings = 64;
int int_values[kMaxSettings];
bool bool_values[kMaxSettings];
char* string_values[kMaxSettings];
}  // namespace

// SET bgupdate.*_hook = 'f': check now that f exists and takes
// (update_name text) returning a number, rather than failing every batch
// later. Only in a transaction (not while reading postgresql.conf).
// bgupdate.health_hook: the same, returning text (a reason to hold) or NULL.
static bool check_function_setting(char** newval, GucSource source, bool health_hook) {
    if (!*newval || !**newval || !IsTransactionState() || source < PGC_S_DATABASE) return true;
    FunctionInfo f;
    find_function(*newval, &f);
    if (!f.found) {
        GUC_check_errdetail("Function %s does not exist (or its name is ambiguous: give its argument types).", *newval);
        return false;
    }
    if (health_hook ? !is_health_hook_signature(f) : !is_hook_signature(f)) {
        GUC_check_errdetail(health_hook ? "A health hook takes (update_name text) and returns text: a reason to hold, or NULL."
                                        : "A controller hook takes (update_name text) and returns a number.");
        return false;
    }
    // Keep the schema-qualified signature: the hook is called with the
    // extension's fixed search_path, which does not find the setter's schemas.
    char* qualified = f.signature;
    char* kept = static_cast<char*>(malloc(strlen(qualified) + 1));  // GUC strings are malloc'd (PostgreSQL 15)
    if (!kept) return false;
    strcpy(kept, qualified);
    free(*newval);
    *newval = kept;
    return true;
}

static bool check_hook_function(char** newval, void**, GucSource source) {
    return check_function_setting(newval, source, false);
}

static bool check_health_hook_function(char** newval, void**, GucSource source) {
    return check_function_setting(newval, source, true);
}

void define_gucs(bool preloading) {
    int i = 0;
    for (const auto& s : bgupdate::all_settings()) {
        if (i >= kMaxSettings) break;
        // The admin switch is persisted in bgupdate.config (set_enabled), not a GUC.
        if (std::string(s.key) == "enabled") continue;
        // Names and descriptions live as long as the process (static in the core).
        char* name = psprintf("bgupdate.%s", s.key);
        switch (s.type) {
            case bgupdate::SettingInfo::Type::Integer:
                DefineCustomIntVariable(name, s.description, nullptr, &int_values[i], atoi(s.default_value),
                                        static_cast<int>(s.min_value), INT_MAX, PGC_USERSET, 0, nullptr, nullptr,
                                        nullptr);
                break;
            case bgupdate::SettingInfo::Type::Boolean:
                DefineCustomBoolVariable(name, s.description, nullptr, &bool_values[i],
                                         std::string(s.default_value) == "true", PGC_USERSET, 0, nullptr, nullptr,
                                         nullptr);
                break;
            case bgupdate::SettingInfo::Type::Function:
                // Hooks run user code inside every batch: only superusers set them.
                DefineCustomStringVariable(name, s.description, nullptr, &string_values[i], s.default_value,
                                           PGC_SUSET, 0,
                                           std::string(s.key) == "health_hook" ? check_health_hook_function
                                                                               : check_hook_function,
                                           nullptr, nullptr);
                break;
        }
        i++;
    }
    DefineCustomIntVariable("bgupdate.naptime_ms",
                            "How long an idle worker waits before looking at the queue again when nothing woke it.",
                            nullptr, &naptime_ms, 1000, 10, INT_MAX, PGC_SIGHUP, 0, nullptr, nullptr, nullptr);
    DefineCustomIntVariable("bgupdate.launcher_rescan_ms",
                            "How often the launcher looks for databases with the extension.", nullptr,
                            &launcher_rescan_ms, 10000, 100, INT_MAX, PGC_SIGHUP, 0, nullptr, nullptr, nullptr);
    DefineCustomIntVariable("bgupdate.worker_turn_ms",
                            "While databases wait for a worker slot, a busy worker that has had its slot this long "
                            "gives it up after its current run; its database queues again (0: never).",
                            nullptr, &worker_turn_ms, 60000, 0, INT_MAX, PGC_SIGHUP, 0, nullptr, nullptr, nullptr);
    DefineCustomBoolVariable("bgupdate.worker_enabled",
                             "Whether the background workers run updates (sessions can still step/run/finish).",
                             nullptr, &worker_enabled, true, PGC_SIGHUP, 0, nullptr, nullptr, nullptr);
    DefineCustomIntVariable("bgupdate.max_parallel",
                            "Most workers of one database at once: independent updates on different tables run side "
                            "by side (never two on one table).",
                            nullptr, &max_parallel, 2, 1, 1024, PGC_SIGHUP, 0, nullptr, nullptr, nullptr);
    // A PGC_POSTMASTER variable can only be defined while the postmaster
    // starts; without shared_preload_libraries there are no workers to cap,
    // and defining it would make the first use of the library FATAL.
    if (preloading)
        DefineCustomIntVariable("bgupdate.max_workers", "Most bgupdate worker processes at once (all databases together; idle ones give way to databases with work).", nullptr,
                                &max_workers, 8, 1, 1024, PGC_POSTMASTER, 0, nullptr, nullptr, nullptr);
    MarkGUCPrefixReserved("bgupdate");
}

}  // namespace bgupdate_pg
