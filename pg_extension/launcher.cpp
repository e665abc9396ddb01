// One launcher per cluster: lists the connectable databases and keeps a
// worker for each database that has the extension, within
// bgupdate.max_workers processes in all:
// - a database whose commit found no worker to wake (shmem requests), or
//   one never looked at, needs a worker: it takes a free slot, or the launcher
//   asks an idle worker of another database to give its slot up;
// - a database known to be idle (its worker left) or without the extension
//   only gets a free slot (no worker is asked to leave for it);
// - a worker that sees independent updates on different tables asks for a
//   helper: a second (up to bgupdate.max_parallel) worker of its database,
//   from a free slot; a spare helper leaves as soon as it is idle;
// - when no worker is idle, a busy one that has had its slot for
//   bgupdate.worker_turn_ms gives it up after its current run and its
//   database queues again, behind those already waiting (first come, first
//   served), so every database with work gets a worker within a bound.
// A worker that finds no extension exits at once and the database is not
// tried again for a while. On a hot standby the launcher starts (so that the
// standby's log says why no worker runs there) but only waits for promotion;
// workers are BgWorkerStart_RecoveryFinished, so none ever runs on a standby.
#include "guc.h"
#include "shmem.h"
#include "worker.h"

extern "C" {
#include "access/heapam.h"
#include "access/xlog.h"
#include "access/table.h"
#include "access/tableam.h"
}

namespace bgupdate_pg {

namespace {

constexpr int kMaxKnown = 4096;
constexpr long kNoExtensionRecheckMs = 60000;
constexpr long kHelperCooldownMs = 5000;  // a database's spare helper left: wait before starting another

// What the launcher remembers about databases it has no worker for.
enum class Known { NoExtension, Idle };
struct KnownDatabase {
    Oid database;
    Known what;
    TimestampTz at;
};
KnownDatabase known[kMaxKnown];
int n_known = 0;

KnownDatabase* find_known(Oid db) {
    for (int i = 0; i < n_known; i++)
        if (known[i].database == db) return &known[i];
    return nullptr;
}

void remember(Oid db, Known what) {
    if (KnownDatabase* k = find_known(db)) {
        k->what = what;
        k->at = GetCurrentTimestamp();
    } else if (n_known < kMaxKnown) {
        known[n_known++] = {db, what, GetCurrentTimestamp()};
    }
}

void forget(Oid db) {
    for (int i = 0; i < n_known; i++)
        if (known[i].database == db) {
            known[i] = known[--n_known];
            return;
        }
}

bool recently_without_extension(Oid db) {
    KnownDatabase* k = find_known(db);
    return k && k->what == Known::NoExtension &&
           !TimestampDifferenceExceeds(k->at, GetCurrentTimestamp(), kNoExtensionRecheckMs);
}

// Databases that need a worker now (asked by a commit, or never looked at).
Oid needy[kMaxKnown];
int n_needy = 0;

void add_needy(Oid db) {
    for (int i = 0; i < n_needy; i++)
        if (needy[i] == db) return;
    if (n_needy < kMaxKnown) needy[n_needy++] = db;
}

// Databases whose busy worker asked for a helper and did not get one yet.
Oid helper_needy[kMaxKnown];
int n_helper_needy = 0;

void add_helper_needy(Oid db) {
    for (int i = 0; i < n_helper_needy; i++)
        if (helper_needy[i] == db) return;
    if (n_helper_needy < kMaxKnown) helper_needy[n_helper_needy++] = db;
}

struct HelperStart {
    Oid database;
    TimestampTz at;
};
HelperStart helper_starts[kMaxKnown];
int n_helper_starts = 0;

bool helper_started_recently(Oid db) {
    for (int i = 0; i < n_helper_starts; i++)
        if (helper_starts[i].database == db)
            return !TimestampDifferenceExceeds(helper_starts[i].at, GetCurrentTimestamp(), kHelperCooldownMs);
    return false;
}

void note_helper_start(Oid db) {
    for (int i = 0; i < n_helper_starts; i++)
        if (helper_starts[i].database == db) {
            helper_starts[i].at = GetCurrentTimestamp();
            return;
        }
    if (n_helper_starts < kMaxKnown) helper_starts[n_helper_starts++] = {db, GetCurrentTimestamp()};
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

// Starts a worker for `db` in a free slot; false when there is none.
bool start_worker(Oid db) {
    int slot = -1;
    SpinLockAcquire(&shared->mutex);
    for (int i = 0; i < shared->nslots && slot < 0; i++)
        if (!OidIsValid(shared->slots[i].database)) slot = i;
    if (slot >= 0) {
        WorkerSlot& s = shared->slots[slot];
        memset(&s, 0, sizeof s);
        s.database = db;
        s.started_at = GetCurrentTimestamp();
    }
    SpinLockRelease(&shared->mutex);
    if (slot < 0) return false;  // bgupdate.max_workers workers run already

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
    return true;  // tried: a missing max_worker_processes slot is not retried at once
}

int workers_for(Oid db);

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
        bool idle = shared->slots[i].leaving;
        bool turn_over = shared->slots[i].turn_requested && !shared->slots[i].idle;  // left with work to do
        shared->slots[i].database = InvalidOid;
        shared->slots[i].proc = nullptr;
        shared->slots[i].pid = 0;
        SpinLockRelease(&shared->mutex);
        pfree(handles[i]);
        handles[i] = nullptr;
        if (none) remember(db, Known::NoExtension);
        else if (turn_over) {
            forget(db);
            if (workers_for(db) == 0) add_needy(db);  // at the back of the queue (a helper's database still has a worker)
        } else if (idle) remember(db, Known::Idle);
    }
}

int workers_for(Oid db) {
    int n = 0;
    SpinLockAcquire(&shared->mutex);
    for (int i = 0; i < shared->nslots; i++)
        if (shared->slots[i].database == db && !shared->slots[i].leaving) n++;
    SpinLockRelease(&shared->mutex);
    return n;
}

// Commits that found no worker to wake: those databases need one now.
void take_requests() {
    SpinLockAcquire(&shared->mutex);
    Oid req[kMaxWakeRequests];
    int n = shared->nrequests;
    bool overflowed = shared->requests_overflowed;
    memcpy(req, shared->requests, sizeof(Oid) * n);
    shared->nrequests = 0;
    shared->requests_overflowed = false;
    SpinLockRelease(&shared->mutex);
    if (overflowed) n_known = 0;  // lost some: look at every database again
    for (int i = 0; i < n; i++) {
        forget(req[i]);
        add_needy(req[i]);
    }
}

// Helpers asked for by busy workers: added to the databases that need a
// slot, after those that have no worker at all.
void take_helper_requests() {
    Oid want[1024];
    bool wedged[1024];  // its worker waits in a long statement: no cooldown
    int n = 0;
    SpinLockAcquire(&shared->mutex);
    for (int i = 0; i < shared->nslots; i++)
        if (shared->slots[i].wants_helper) {
            shared->slots[i].wants_helper = false;
            if (!shared->slots[i].leaving && n < 1024) {
                wedged[n] = shared->slots[i].in_long_statement;
                want[n++] = shared->slots[i].database;
            }
        }
    SpinLockRelease(&shared->mutex);
    for (int i = 0; i < n; i++)
        if (workers_for(want[i]) < max_parallel && (wedged[i] || !helper_started_recently(want[i])))
            add_helper_needy(want[i]);
}

// Databases without a worker take free slots first, then databases asking
// for a helper; for the rest, idle workers of other databases are asked to
// leave (one per database still waiting).
void serve_needy() {
    int kept = 0;
    for (int i = 0; i < n_needy; i++) {
        Oid db = needy[i];
        if (workers_for(db) > 0 || start_worker(db)) continue;
        needy[kept++] = db;
    }
    n_needy = kept;
    kept = 0;
    for (int i = 0; i < n_helper_needy; i++) {
        Oid db = helper_needy[i];
        if (workers_for(db) == 0 || workers_for(db) >= max_parallel) continue;  // gone idle, or enough already
        if (start_worker(db)) {
            note_helper_start(db);
            continue;
        }
        helper_needy[kept++] = db;
    }
    n_helper_needy = kept;
    int waiting = n_needy + n_helper_needy;
    if (waiting == 0) return;
    PGPROC* ask[1024];
    int n_ask = 0;
    SpinLockAcquire(&shared->mutex);
    int asked = 0;
    for (int i = 0; i < shared->nslots; i++)
        if ((shared->slots[i].yield_requested && !shared->slots[i].leaving) || shared->slots[i].turn_requested) asked++;
    for (int i = 0; i < shared->nslots && asked < waiting; i++) {
        WorkerSlot& s = shared->slots[i];
        if (!s.proc || !s.idle || s.leaving || s.yield_requested) continue;
        bool wanted_here = false;  // never ask a database's own idle worker to make room for its helper
        for (int k = 0; k < n_helper_needy; k++)
            if (helper_needy[k] == s.database) wanted_here = true;
        if (wanted_here) continue;
        s.yield_requested = true;
        asked++;
        if (n_ask < 1024) ask[n_ask++] = s.proc;
    }
    // Still short: busy workers whose turn is over give their slot up, a
    // helper first (its database keeps a worker), then the longest-serving.
    TimestampTz now = GetCurrentTimestamp();
    while (asked < waiting && worker_turn_ms > 0) {
        int best = -1;
        bool best_helper = false;
        for (int i = 0; i < shared->nslots; i++) {
            WorkerSlot& s = shared->slots[i];
            if (!s.proc || s.leaving || s.turn_requested || !TimestampDifferenceExceeds(s.started_at, now, worker_turn_ms))
                continue;
            bool helper = false;
            for (int k = 0; k < shared->nslots; k++)
                if (k != i && shared->slots[k].database == s.database && !shared->slots[k].leaving) helper = true;
            if (best < 0 || (helper && !best_helper) ||
                (helper == best_helper && s.started_at < shared->slots[best].started_at)) {
                best = i;
                best_helper = helper;
            }
        }
        if (best < 0) break;
        shared->slots[best].turn_requested = true;
        asked++;
        if (n_ask < 1024) ask[n_ask++] = shared->slots[best].proc;
    }
    SpinLockRelease(&shared->mutex);
    for (int i = 0; i < n_ask; i++) SetLatch(&ask[i]->procLatch);
}

// A hot standby (Patroni's replicas): say once why no worker runs here, then
// wait until this server is promoted. Returns false when asked to shut down.
bool wait_for_promotion() {
    if (!RecoveryInProgress()) return true;
    ereport(LOG, (errmsg("bgupdate launcher: this server is a standby; no bgupdate worker runs here, "
                         "waiting for promotion")));
    while (RecoveryInProgress()) {
        if (ShutdownRequestPending) return false;
        (void)process_reload_request();
        (void)WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH, 500L, PG_WAIT_EXTENSION);
        ResetLatch(MyLatch);
        CHECK_FOR_INTERRUPTS();
    }
    ereport(LOG, (errmsg("bgupdate launcher: this server was promoted; starting bgupdate workers")));
    return true;
}

}  // namespace

void register_launcher() {
    BackgroundWorker w;
    memset(&w, 0, sizeof w);
    w.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
    w.bgw_start_time = BgWorkerStart_ConsistentState;  // on a hot standby too: it logs and waits there
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
    if (!wait_for_promotion()) proc_exit(1);
    SpinLockAcquire(&shared->mutex);
    shared->launcher = MyProc;
    shared->rescan = true;
    SpinLockRelease(&shared->mutex);
    TimestampTz next_scan = 0;
    for (;;) {
        if (ShutdownRequestPending) proc_exit(1);  // restarted unless the server is stopping
        (void)process_reload_request();
        reap_workers();
        SpinLockAcquire(&shared->mutex);
        bool asked = shared->rescan;
        shared->rescan = false;
        SpinLockRelease(&shared->mutex);
        take_requests();
        List* spare_time = NIL;  // known idle, or a no-extension recheck due: free slots only
        if (asked || GetCurrentTimestamp() >= next_scan) {
            List* dbs = connectable_databases();
            ListCell* lc;
            foreach (lc, dbs) {
                Oid db = lfirst_oid(lc);
                if (workers_for(db) > 0 || recently_without_extension(db)) continue;
                if (find_known(db)) spare_time = lappend_oid(spare_time, db);
                else add_needy(db);  // never looked at
            }
            list_free(dbs);
            next_scan = TimestampTzPlusMilliseconds(GetCurrentTimestamp(), launcher_rescan_ms);
        }
        take_helper_requests();
        serve_needy();
        ListCell* lc;
        foreach (lc, spare_time) {
            if (!start_worker(lfirst_oid(lc))) break;
        }
        list_free(spare_time);
        // A database waiting for a slot: look again soon (an asked worker may have got busy instead).
        long wait_ms = n_needy + n_helper_needy > 0 ? Min(1000L, (long)launcher_rescan_ms) : launcher_rescan_ms;
        (void)WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH, wait_ms,
                        PG_WAIT_EXTENSION);
        ResetLatch(MyLatch);
        CHECK_FOR_INTERRUPTS();
    }
}
