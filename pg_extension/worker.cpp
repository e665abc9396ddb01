// A per-database worker: runs the queue continuously with Api::run, each
// batch in its own transaction; sleeps on its latch when idle (set at commit
// by any transaction that enqueues work or enables the runner; naptime_ms
// is only a fallback poll). Exits when the extension is dropped.
#include <string>

#include "api.h"
#include "runner.h"
#include "batch_watchdog.h"
#include "error_boundary.h"
#include "guc.h"
#include "shmem.h"
#include "spi_engine.h"
#include "worker.h"

namespace bgupdate_pg {

MemoryContext worker_loop_context = nullptr;

namespace {

int my_slot = -1;

void forget_proc(int, Datum) {
    if (!shared || my_slot < 0) return;
    SpinLockAcquire(&shared->mutex);
    shared->slots[my_slot].proc = nullptr;
    SpinLockRelease(&shared->mutex);
}

bool extension_present() {
    SetCurrentStatementStartTimestamp();
    StartTransactionCommand();
    bool present = OidIsValid(get_extension_oid("bgupdate", true));
    CommitTransactionCommand();
    MemoryContextSwitchTo(worker_loop_context);
    return present;
}

struct RunInfo {
    int parallel_width = 0;     // independent updates that could run side by side
    bool retry_pending = false;  // nothing ran, but a backoff ends soon: not idle
    int64_t next_batch_in_ms = 0;  // the pacing pause that outlasted the slice
};

// One Api::run of at most a second, so that SIGHUP, DROP EXTENSION and
// shutdown are noticed promptly. Returns whether any batch ran.
bool run_once(RunInfo& info) {
    bgupdate::RunSummary summary;
    std::string error;
    bool gone = false;
    try {
        SpiEngine engine(SpiEngine::Mode::Worker, worker_loop_context);
        bgupdate::Api api(engine);
        summary = api.run(1000, bgupdate::RunScope{});
        engine.finish_transaction();
    } catch (const ExtensionGone&) {
        gone = true;
    } catch (const std::exception& e) {
        error = e.what();
    } catch (...) {
        error = "unknown error";
    }
    bool ok = true;
    pg_guard([&] {
        if (IsTransactionState() || IsAbortedTransactionBlockState()) AbortCurrentTransaction();
    });
    if (!error.empty()) {
        const char* msg = error.c_str();
        pg_guard([&] { ereport(LOG, (errmsg("bgupdate worker: %s", msg))); });
        ok = false;
    }
    MemoryContextSwitchTo(worker_loop_context);
    if (gone) return true;  // loop at once: the extension check then exits
    if (!ok) return false;
    info.parallel_width = summary.parallel_width;
    info.retry_pending = summary.retry_pending;
    info.next_batch_in_ms = summary.next_batch_in_ms;
    return summary.batches > 0;
}

// The pause after the last batch (sleep_duration_ms, health pacing) that
// outlasted the one-second slice: waited out here, so that the next slice's
// first batch comes that long after the last one, not at once.
void wait_for_next_batch(int64_t ms) {
    pgstat_report_activity(STATE_IDLE, "bgupdate: pausing between batches");
    try {
        (void)worker_pause(ms);  // stopping is seen at the top of the main loop
    } catch (const std::exception& e) {
        const char* msg = e.what();
        pg_guard([&] { ereport(LOG, (errmsg("bgupdate worker: while pausing between batches: %s", msg))); });
    }
}

}  // namespace

bool process_reload_request() {
    if (!ConfigReloadPending) return false;
    ConfigReloadPending = false;
    ProcessConfigFile(PGC_SIGHUP);
    return true;
}

namespace {

// More independent updates than workers here: ask the launcher for a helper.
void ask_for_helper(int parallel_width) {
    if (parallel_width < 2) return;
    PGPROC* launcher = nullptr;
    SpinLockAcquire(&shared->mutex);
    Oid db = shared->slots[my_slot].database;
    int workers = 0;
    for (int i = 0; i < shared->nslots; i++)
        if (shared->slots[i].database == db && !shared->slots[i].leaving) workers++;
    if (workers < parallel_width && workers < max_parallel && !shared->slots[my_slot].wants_helper) {
        shared->slots[my_slot].wants_helper = true;
        launcher = shared->launcher;
    }
    SpinLockRelease(&shared->mutex);
    if (launcher) SetLatch(&launcher->procLatch);
}

// Busy, but databases wait for a slot and this worker's turn is over
// (bgupdate.worker_turn_ms): give the slot up; the launcher queues this
// database again behind them.
bool turn_is_over() {
    bool over = false;
    SpinLockAcquire(&shared->mutex);
    WorkerSlot& me = shared->slots[my_slot];
    if (me.turn_requested) {
        me.leaving = true;
        me.idle = false;
        over = true;
    }
    SpinLockRelease(&shared->mutex);
    return over;
}

void set_busy() {
    SpinLockAcquire(&shared->mutex);
    shared->slots[my_slot].idle = false;
    shared->slots[my_slot].yield_requested = false;  // has work again: the launcher asks another
    SpinLockRelease(&shared->mutex);
}

// Nothing to run: leave if the launcher wants this slot for another database
// or another worker of this database is still there (this one is a spare
// helper); otherwise mark the slot idle (so it can be asked for) and stay.
// Decided under the mutex, so two idle workers of one database never both leave.
bool leave_when_idle() {
    bool leave = false;
    SpinLockAcquire(&shared->mutex);
    WorkerSlot& me = shared->slots[my_slot];
    bool sibling = false;
    for (int i = 0; i < shared->nslots; i++)
        if (i != my_slot && shared->slots[i].database == me.database && shared->slots[i].pid &&
            !shared->slots[i].leaving && !shared->slots[i].stopping)
            sibling = true;
    // A commit woke us after our last look (wake_now marks it under this
    // same mutex unless we are leaving): look again instead.
    if (!me.woken && (me.yield_requested || me.turn_requested || sibling)) {
        me.leaving = true;
        me.idle = true;  // not a turn given up with work left: nothing to queue again
        leave = true;
    } else {
        me.idle = true;
    }
    me.lease = 0;
    SpinLockRelease(&shared->mutex);
    return leave;
}

// The previous worker of this database was ended at the hard limit: its
// batch rolled back; count it as a failed attempt of that update.
void record_batch_ended_by_watchdog() {
    int64_t limit_ms = 0;
    std::string name = watchdog_take_note(&limit_ms);
    if (name.empty()) return;
    std::string message = "the batch ignored cancellation and ran past the hard limit of " +
                          std::to_string(limit_ms) + " ms (" + std::to_string(kHardLimitFactor) +
                          " x statement_timeout_ms); its worker was terminated";
    std::string error;
    try {
        SpiEngine engine(SpiEngine::Mode::Worker, worker_loop_context);
        bgupdate::Api api(engine);
        api.record_lost_batch(name, message);
        engine.finish_transaction();
    } catch (const std::exception& e) {
        error = e.what();
    }
    pg_guard([&] {
        if (IsTransactionState() || IsAbortedTransactionBlockState()) AbortCurrentTransaction();
    });
    MemoryContextSwitchTo(worker_loop_context);
    const char* n = name.c_str();
    const char* m = error.empty() ? message.c_str() : error.c_str();
    pg_guard([&] {
        ereport(LOG, (errmsg("bgupdate worker: background update \"%s\": %s", n, m)));
    });
}

}  // namespace
}  // namespace bgupdate_pg

using namespace bgupdate_pg;

void bgupdate_worker_main(Datum arg) {
    my_slot = DatumGetInt32(arg);
    my_worker_slot = my_slot;
    SpinLockAcquire(&shared->mutex);
    Oid db = shared->slots[my_slot].database;
    SpinLockRelease(&shared->mutex);

    // SIGTERM = die: a long batch statement is cancelled at once (FATAL exits
    // without unwinding, which is fine for a process about to end).
    pqsignal(SIGTERM, die);
    pqsignal(SIGHUP, SignalHandlerForConfigReload);
    BackgroundWorkerUnblockSignals();
    BackgroundWorkerInitializeConnectionByOid(db, InvalidOid, 0);  // bootstrap superuser
    pgstat_report_appname("bgupdate worker");
    // The extension's own queries resolve nothing through a schema a user can
    // write; a batch runs with its owner's path and cannot change this one
    // (its settings are rolled back when it ends).
    set_config_option("search_path", "pg_catalog, pg_temp", PGC_SUSET, PGC_S_SESSION, GUC_ACTION_SET, true, 0, false);
    // A runner reads progress under its claim and must see the last batch any
    // runner committed: each statement its own snapshot, whatever the
    // server's default isolation.
    set_config_option("default_transaction_isolation", "read committed", PGC_SUSET, PGC_S_SESSION, GUC_ACTION_SET,
                      true, 0, false);

    SpinLockAcquire(&shared->mutex);
    shared->slots[my_slot].pid = MyProcPid;
    shared->slots[my_slot].proc = MyProc;
    SpinLockRelease(&shared->mutex);
    before_shmem_exit(forget_proc, 0);
    watchdog_init();

    worker_loop_context = AllocSetContextCreate(TopMemoryContext, "bgupdate worker", ALLOCSET_DEFAULT_SIZES);
    MemoryContextSwitchTo(worker_loop_context);
    pgstat_report_activity(STATE_IDLE, "bgupdate: idle");

    bool had_extension = false;
    for (;;) {
        CHECK_FOR_INTERRUPTS();
        // A worker lives and dies with its server (PostgreSQL's rule for
        // background workers): checked after every batch, whatever the pacing,
        // not only when the worker waits.
        if (!PostmasterIsAlive()) proc_exit(1);
        (void)process_reload_request();
        MemoryContextReset(worker_loop_context);
        if (!extension_present()) {
            SpinLockAcquire(&shared->mutex);
            shared->slots[my_slot].no_extension = true;
            SpinLockRelease(&shared->mutex);
            // The launcher probes databases without the extension now and
            // then: only a drop under a running worker is worth a LOG line.
            ereport(had_extension ? LOG : DEBUG1,
                    (errmsg("bgupdate worker: extension bgupdate is not installed in this database; exiting")));
            proc_exit(0);
        }
        had_extension = true;
        record_batch_ended_by_watchdog();
        SpinLockAcquire(&shared->mutex);
        shared->slots[my_slot].woken = false;  // this look at the queue sees what was committed so far
        SpinLockRelease(&shared->mutex);
        RunInfo info;
        bool worked = worker_enabled && run_once(info);
        ask_for_helper(info.parallel_width);
        if (worked) {
            set_busy();
            if (turn_is_over()) {
                ereport(LOG, (errmsg("bgupdate worker: gave its slot to a database waiting for one after its turn of "
                                     "%d ms [bgupdate.worker_turn_ms]; this database queues for a slot again",
                                     worker_turn_ms)));
                proc_exit(0);
            }
            if (info.next_batch_in_ms > 0) wait_for_next_batch(info.next_batch_in_ms);
            continue;
        }
        if (info.retry_pending) {
            set_busy();  // a backoff ends soon: keep the slot, unless its turn is over
            if (turn_is_over()) proc_exit(0);
        } else if (leave_when_idle()) {
            ereport(DEBUG1, (errmsg("bgupdate worker: idle; giving the slot up")));
            proc_exit(0);
        }
        pgstat_report_activity(STATE_IDLE, "bgupdate: idle");
        (void)WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH, naptime_ms, PG_WAIT_EXTENSION);
        ResetLatch(MyLatch);
    }
}
