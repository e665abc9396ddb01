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
        // The table is resolved here, in the runner's search_path (the reader runs with its own).
        std::string rel = req.table.empty() ? "NULL::pg_catalog.regclass"
                                            : "pg_catalog.to_regclass(" + dialect_.literal(dialect_.table(req.table)) + ")";
        for (auto& r : query("SELECT signal, value, detail FROM bgupdate._health_readings(" + rel + ", ARRAY[" +
                             bgupdate::join(wanted, ", ") + "]::text[])"))
            out.push_back({r[0].as_text(), r[1].is_null() ? 0.0 : r[1].as_real(), r[2].as_text()});
    }
    if (!req.hook.empty()) {
        std::string h = dialect_.literal(req.hook);
        auto fn = query("SELECT pg_catalog.quote_ident(n.nspname) || '.' || pg_catalog.quote_ident(p.proname)"
                        " FROM pg_catalog.pg_proc p JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace"
                        " WHERE p.oid = CASE WHEN pg_catalog.strpos(" + h + ", '(') > 0 THEN pg_catalog.to_regprocedure(" +
                        h + ")::pg_catalog.oid ELSE pg_catalog.to_regproc(" + h + ")::pg_catalog.oid END");
        if (fn.empty())
            throw bgupdate::Error(bgupdate::ErrorKind::Failure, "health hook function " + req.hook + " does not exist");
        auto r = query("SELECT " + fn[0][0].as_text() + "(" + dialect_.literal(req.update_name) + "::text)::text");
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
