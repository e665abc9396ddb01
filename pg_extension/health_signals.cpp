// PostgreSQL's health signals for the core's checks (common/health.h): one
// call of bgupdate._health_readings (SECURITY DEFINER: replication, archiver
// and other sessions' state need pg_monitor) plus the superuser-set
// bgupdate.health_hook, called as the runner. Also the worker's log lines.
#include <cstdlib>

#include "error_boundary.h"
#include "errors.h"
#include "health.h"
#include "spi_engine.h"

namespace bgupdate_pg {

std::vector<bgupdate::HealthReading> SpiEngine::read_health(const bgupdate::HealthRequest& req) {
    std::vector<bgupdate::HealthReading> out;
    std::vector<std::string> wanted;
    for (auto& s : req.signals)
        if (s != bgupdate::signal::kWalMb) wanted.push_back(dialect_.literal(s));  // SQLite's signal
    if (!wanted.empty()) {
        // The table is resolved as the update's batches resolve it: in its
        // owner's search_path (the extension's own queries run with a fixed one).
        Oid rel = InvalidOid;
        if (!req.table.empty()) {
            std::string quoted = dialect_.table(req.table);
            const char* name = quoted.c_str();
            const char* path = req.owner.search_path.c_str();
            int level = 0;
            pg_guard([&] { level = NewGUCNestLevel(); });
            try {
                pg_guard([&] {
                    if (*path)
                        set_config_option("search_path", path, PGC_USERSET, PGC_S_SESSION, GUC_ACTION_SAVE, true, 0,
                                          false);
                    rel = RangeVarGetRelid(makeRangeVarFromNameList(stringToQualifiedNameList(name)), NoLock, true);
                });
            } catch (...) {
                try { rollback_guc_level(level); } catch (...) {}
                throw;
            }
            rollback_guc_level(level);
        }
        std::string relsql = OidIsValid(rel) ? std::to_string(rel) + "::pg_catalog.oid::pg_catalog.regclass"
                                             : std::string("NULL::pg_catalog.regclass");
        for (auto& r : query("SELECT signal, value, detail FROM bgupdate._health_readings(" + relsql + ", ARRAY[" +
                             bgupdate::join(wanted, ", ") + "]::text[])"))
            out.push_back({r[0].as_text(), r[1].is_null() ? 0.0 : r[1].as_real(), r[2].as_text()});
    }
    if (!req.hook.empty()) {
        // Set as a schema-qualified signature (guc.cpp); resolved here under
        // the extension's fixed search_path.
        std::string h = dialect_.literal(req.hook);
        auto fn = query("SELECT pg_catalog.quote_ident(n.nspname) || '.' || pg_catalog.quote_ident(p.proname)"
                        " FROM pg_catalog.pg_proc p JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace"
                        " WHERE p.oid = CASE WHEN pg_catalog.strpos(" + h + ", '(') > 0 THEN pg_catalog.to_regprocedure(" +
                        h + ")::pg_catalog.oid ELSE pg_catalog.to_regproc(" + h + ")::pg_catalog.oid END");
        if (fn.empty())
            throw bgupdate::Error(bgupdate::ErrorKind::Failure, "health hook function " + req.hook + " does not exist");
        // User code, as for the controller hooks: restricted, and nothing it sets outlives it.
        Oid user = InvalidOid;
        int sec = 0, level = 0;
        pg_guard([&] {
            GetUserIdAndSecContext(&user, &sec);
            SetUserIdAndSecContext(user, sec | SECURITY_RESTRICTED_OPERATION);
            level = NewGUCNestLevel();
        });
        auto restore = [&] {
            rollback_guc_level(level);
            pg_guard([&] { SetUserIdAndSecContext(user, sec); });
        };
        bgupdate::Rows r;
        try {
            r = query("SELECT " + fn[0][0].as_text() + "(" + dialect_.literal(req.update_name) + "::pg_catalog.text)::pg_catalog.text");
        } catch (...) {
            try { restore(); } catch (...) {}
            throw;
        }
        restore();
        out.push_back({bgupdate::signal::kHook, 0, r.empty() || r[0][0].is_null() ? "" : r[0][0].as_text()});
    }
    return out;
}

std::string SpiEngine::database_key() { return std::to_string(MyDatabaseId); }

void SpiEngine::log_event(const std::string& message) {
    const char* msg = message.c_str();
    int level = mode_ == Mode::Worker ? LOG : DEBUG1;
    pg_guard([&] { ereport(level, (errmsg("bgupdate worker: %s", msg))); });
}

}  // namespace bgupdate_pg
