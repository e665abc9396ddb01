// One launcher per cluster: lists the connectable databases and keeps one
// worker per database that has the extension (a worker that finds no
// extension exits at once and the database is not tried again for a while).
// BgWorkerStart_RecoveryFinished: nothing runs on a standby; it starts on
// promotion.
#include "guc.h"
#include "shmem.h"
#include "worker.h"

extern "C" {
#include "access/heapam.h"
#include "access/table.h"
#include "access/tableam.h"
}

namespace bgupdate_pg {

namespace {

constexpr int kMaxKnown = 4096;
constexpr long kNoExtensionRecheckMs = 60000;
struct NoExtension {
    Oid database;
    TimestampTz checked_at;
};
NoExtension no_extension[kMaxKnown];
int n_no_extension = 0;

void remember_no_extension(Oid db) {
    for (int i = 0; i < n_no_extension; i++)
        if (no_extension[i].database == db) {
            no_extension[i].checked_at = GetCurrentTimestamp();
            return;
        }
    if (n_no_extension < kMaxKnown) no_extension[n_no_extension++] = {db, GetCurrentTimestamp()};
}

bool recently_without_extension(Oid db) {
    for (int i = 0; i < n_no_extension; i++)
        if (no_extension[i].database == db)
            return !TimestampDifferenceExceeds(no_extension[i].checked_at, GetCurrentTimestamp(), kNoExtensionRecheckMs);
    return false;
}

List* connectable_databases() {
    List* out = NIL;
    StartTransactionCommand();
    Relation rel = table_open(DatabaseRelationId, AccessShareLock);
    TableScanDesc scan = table_beginscan_catalog(rel, 0, nullptr);
    HeapTuple tup;
    MemoryContext old = MemoryContextSwitchTo(TopMemoryContext);
    while ((tup = heap_getnext(scan, ForwardScanDirection)) != nullptr) {
        Form_pg_database d = (Form_pg_database)GETSTRUCT(tup);
        if (!d->datallowconn || d->datistemplate || d->datconnlimit == -2 /* invalid (half-dropped) */) continue;
        out = lappend_oid(out, d->oid);
    }
    MemoryContextSwitchTo(old);
    table_endscan(scan);
    table_close(rel, AccessShareLock);
    CommitTransactionCommand();
    return out;
}

BackgroundWorkerHandle* handles[1024];

void start_worker(Oid db) {
    int slot = -1;
    SpinLockAcquire(&shared->mutex);
    for (int i = 0; i < shared->nslots && slot < 0; i++)
        if (!OidIsValid(shared->slots[i].database)) slot = i;
    if (slot >= 0) {
        shared->slots[slot].database = db;
        shared->slots[slot].pid = 0;
        shared->slots[slot].proc = nullptr;
        shared->slots[slot].no_extension = false;
        shared->slots[slot].stopping = false;
    }
    SpinLockRelease(&shared->mutex);
    if (slot < 0) return;  // bgupdate.max_workers databases are served already

    BackgroundWorker w;
    memset(&w, 0, sizeof w);
    w.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
    w.bgw_start_time = BgWorkerStart_RecoveryFinished;
    w.bgw_restart_time = BGW_NEVER_RESTART;  // the launcher restarts it when needed
    snprintf(w.bgw_library_name, BGW_MAXLEN, "bgupdate");
    snprintf(w.bgw_function_name, BGW_MAXLEN, "bgupdate_worker_main");
    snprintf(w.bgw_name, BGW_MAXLEN, "bgupdate worker for database %u", db);
    snprintf(w.bgw_type, BGW_MAXLEN, "bgupdate worker");
    w.bgw_main_arg = Int32GetDatum(slot);
    w.bgw_notify_pid = MyProcPid;
    if (!RegisterDynamicBackgroundWorker(&w, &handles[slot])) {
        SpinLockAcquire(&shared->mutex);
        shared->slots[slot].database = InvalidOid;
        SpinLockRelease(&shared->mutex);
        handles[slot] = nullptr;
        ereport(LOG, (errmsg("bgupdate launcher: no free background worker slot for database %u", db),
                      errhint("Raise max_worker_processes.")));
    }
}

void reap_workers() {
    for (int i = 0; i < shared->nslots; i++) {
        if (!handles[i]) continue;
        pid_t pid;
        BgwHandleStatus st = GetBackgroundWorkerPid(handles[i], &pid);
        if (st == BGWH_POSTMASTER_DIED) proc_exit(1);
        if (st != BGWH_STOPPED) continue;
        SpinLockAcquire(&shared->mutex);
        Oid db = shared->slots[i].database;
        bool none = shared->slots[i].no_extension || shared->slots[i].stopping;
        shared->slots[i].database = InvalidOid;
        shared->slots[i].proc = nullptr;
        shared->slots[i].pid = 0;
        SpinLockRelease(&shared->mutex);
        pfree(handles[i]);
        handles[i] = nullptr;
        if (none) remember_no_extension(db);
    }
}

bool served(Oid db) {
    bool found = false;
    SpinLockAcquire(&shared->mutex);
    for (int i = 0; i < shared->nslots; i++)
        if (shared->slots[i].database == db) found = true;
    SpinLockRelease(&shared->mutex);
    return found;
}

}  // namespace

void register_launcher() {
    BackgroundWorker w;
    memset(&w, 0, sizeof w);
    w.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
    w.bgw_start_time = BgWorkerStart_RecoveryFinished;
    w.bgw_restart_time = 5;
    snprintf(w.bgw_library_name, BGW_MAXLEN, "bgupdate");
    snprintf(w.bgw_function_name, BGW_MAXLEN, "bgupdate_launcher_main");
    snprintf(w.bgw_name, BGW_MAXLEN, "bgupdate launcher");
    snprintf(w.bgw_type, BGW_MAXLEN, "bgupdate launcher");
    RegisterBackgroundWorker(&w);
}

}  // namespace bgupdate_pg

using namespace bgupdate_pg;

// Plain C-style code only: no C++ objects live across PostgreSQL calls here.
void bgupdate_launcher_main(Datum) {
    pqsignal(SIGHUP, SignalHandlerForConfigReload);
    pqsignal(SIGTERM, SignalHandlerForShutdownRequest);
    BackgroundWorkerUnblockSignals();
    BackgroundWorkerInitializeConnection(nullptr, nullptr, 0);  // shared catalogs only
    SpinLockAcquire(&shared->mutex);
    shared->launcher = MyProc;
    shared->rescan = true;
    SpinLockRelease(&shared->mutex);
    TimestampTz next_scan = 0;
    for (;;) {
        if (ShutdownRequestPending) proc_exit(1);  // restarted unless the server is stopping
        if (ConfigReloadPending) {
            ConfigReloadPending = false;
            ProcessConfigFile(PGC_SIGHUP);
        }
        reap_workers();
        SpinLockAcquire(&shared->mutex);
        bool asked = shared->rescan;
        shared->rescan = false;
        SpinLockRelease(&shared->mutex);
        if (asked) n_no_extension = 0;  // someone created the extension somewhere: look again everywhere
        if (asked || GetCurrentTimestamp() >= next_scan) {
            List* dbs = connectable_databases();
            ListCell* lc;
            foreach (lc, dbs) {
                Oid db = lfirst_oid(lc);
                if (!served(db) && !recently_without_extension(db)) start_worker(db);
            }
            list_free(dbs);
            next_scan = TimestampTzPlusMilliseconds(GetCurrentTimestamp(), launcher_rescan_ms);
        }
        (void)WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH, launcher_rescan_ms,
                        PG_WAIT_EXTENSION);
        ResetLatch(MyLatch);
        CHECK_FOR_INTERRUPTS();
    }
}
