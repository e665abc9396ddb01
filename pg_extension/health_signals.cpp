// PostgreSQL's health signals for the core's checks (common/health.h): one
// call of bgupdate._health_readings (SECURITY DEFINER: replication, archiver
// and other sessions' state need pg_monitor), the sessions waiting for WAL
// flushes (sampled here from shared memory), plus the superuser-set
// bgupdate.health_hook, called as the runner. Also the worker's log lines.
#include <cstdlib>

#include "storage/lwlocknames.h"

#include "error_boundary.h"
#include "errors.h"
#include "health.h"
#include "owner_search_path.h"
#include "setting_scope.h"
#include "spi_engine.h"

namespace bgupdate_pg {

namespace {

// Client sessions (not background workers or autovacuum, not this one)
// waiting for WAL to be written or flushed, or for a synchronous standby to
// confirm it, on average over kSamples looks kSampleGapUs apart: a commit
// waits for its flush, so while commits wait longer for the backfill's WAL
// more of them are waiting at any moment. Only a count: no session is named,
// so every role may read it. wait_event_info is read without a lock, as
// pg_stat_activity reads it.
constexpr int kSamples = 10;
constexpr long kSampleGapUs = 500;

double sample_wal_flush_waiters() {
    const uint32 lwlock_wal_write = PG_WAIT_LWLOCK | WALWriteLock->tranche;
    int64_t waiting = 0;
    pg_guard([&] {
        for (int n = 0; n < kSamples; n++) {
            if (n > 0) pg_usleep(kSampleGapUs);
            CHECK_FOR_INTERRUPTS();
            for (int i = 0; i < MaxBackends; i++) {
                volatile PGPROC* proc = &ProcGlobal->allProcs[i];
                if (proc == MyProc || proc->pid == 0 || proc->isBackgroundWorker ||
                    (proc->statusFlags & PROC_IS_AUTOVACUUM))
                    continue;
                uint32 w = proc->wait_event_info;
                if (w == WAIT_EVENT_WAL_SYNC || w == WAIT_EVENT_WAL_WRITE || w == WAIT_EVENT_SYNC_REP ||
                    w == lwlock_wal_write)
                    waiting++;
            }
        }
    });
    return static_cast<double>(waiting) / kSamples;
}

}  // namespace

std::vector<bgupdate::HealthReading> SpiEngine::read_health(const bgupdate::HealthRequest& req) {
    std::vector<bgupdate::HealthReading> out;
    std::vector<std::string> wanted;
    for (auto& s : req.signals)
        if (s == bgupdate::signal::kWalFlushWaiters) out.push_back({s, sample_wal_flush_waiters(), ""});
        else if (s != bgupdate::signal::kWalMb) wanted.push_back(dialect_.literal(s));  // SQLite's signal
    if (!wanted.empty()) {
        // The table is resolved as the update's batches resolve it: in its
        // owner's search_path with pg_temp last (the extension's own queries
        // run with a fixed one).
        Oid rel = InvalidOid;
        if (!req.table.empty()) {
            std::string quoted = dialect_.table(req.table);
            const char* name = quoted.c_str();
            std::string owner_path = without_leading_temp_schema(req.owner.search_path);
            const char* path = owner_path.c_str();
            SettingScope lookup;  // the owner's path for this lookup only
            pg_guard([&] {
                set_config_option("search_path", path, PGC_USERSET, PGC_S_SESSION, GUC_ACTION_SAVE, true, 0, false);
                rel = RangeVarGetRelid(makeRangeVarFromNameList(stringToQualifiedNameList(name)), NoLock, true);
            });
            lookup.end();
        }
        std::string relsql = OidIsValid(rel) ? std::to_string(rel) + "::pg_catalog.oid::pg_catalog.regclass"
                                             : std::string("NULL::pg_catalog.regclass");
        // Which standby, slot, session or WAL file: only for an owner who may
        // see them (pg_monitor), as the reason lands in its status row; the
        // function itself also gives them only to a pg_monitor session.
        std::string owner_monitors = "false";
        if (req.owner.owner.find_first_not_of("0123456789") == std::string::npos && !req.owner.owner.empty())
            owner_monitors = "COALESCE((SELECT pg_catalog.pg_has_role(r.oid, 'pg_monitor', 'USAGE') FROM "
                             "pg_catalog.pg_roles r WHERE r.oid = " + req.owner.owner + "::pg_catalog.oid), false)";
        for (auto& r : query("SELECT signal, value, detail FROM bgupdate._health_readings(" + relsql + ", ARRAY[" +
                             bgupdate::join(wanted, ", ") + "]::text[], " + owner_monitors + ")"))
            out.push_back({r[0].as_text(), r[1].is_null() ? 0.0 : r[1].as_real(), r[2].as_text()});
    }
    if (!req.hook.empty()) {
        // Set as a schema-qualified signature (guc.cpp); resolved here under
        // the extension's fixed search_path.
        std::string h = dialect_.literal(req.hook);
        auto fn = query("SELECT pg_catalog.quote_ident(n.nspname) || '.' || pg_catalog.quote_ident(p.proname), p.proowner::pg_catalog.int8"
                        " FROM pg_catalog.pg_proc p JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace"
                        " WHERE p.oid = CASE WHEN pg_catalog.strpos(" + h + ", '(') > 0 THEN pg_catalog.to_regprocedure(" +
                        h + ")::pg_catalog.oid ELSE pg_catalog.to_regproc(" + h + ")::pg_catalog.oid END");
        if (fn.empty())
            throw bgupdate::Error(bgupdate::ErrorKind::Failure, "health hook function " + req.hook + " does not exist");
        // User code, as for the controller hooks: restricted, nothing it sets
        // outlives it, and run as the role that owns the function.
        SettingScope as_owner(static_cast<Oid>(fn[0][1].as_int()));
        bgupdate::Rows r =
            query("SELECT " + fn[0][0].as_text() + "(" + dialect_.literal(req.update_name) + "::pg_catalog.text)::pg_catalog.text");
        as_owner.end();
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
