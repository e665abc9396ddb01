#include "shmem.h"

#include "batch_watchdog.h"

namespace bgupdate_pg {

SharedState* shared = nullptr;
int max_workers = 8;
int max_parallel = 2;
int my_worker_slot = -1;

static shmem_request_hook_type prev_shmem_request_hook = nullptr;
static shmem_startup_hook_type prev_shmem_startup_hook = nullptr;
static bool wake_pending = false;

static Size shared_size() { return add_size(offsetof(SharedState, slots), mul_size(max_workers, sizeof(WorkerSlot))); }

static void request_shmem() {
    if (prev_shmem_request_hook) prev_shmem_request_hook();
    RequestAddinShmemSpace(shared_size());
    RequestAddinShmemSpace(watchdog_shmem_size());
}

static void startup_shmem() {
    if (prev_shmem_startup_hook) prev_shmem_startup_hook();
    bool found;
    LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
    shared = static_cast<SharedState*>(ShmemInitStruct("bgupdate", shared_size(), &found));
    if (!found) {
        memset(shared, 0, shared_size());
        SpinLockInit(&shared->mutex);
        shared->nslots = max_workers;
    }
    watchdog_shmem_init();
    LWLockRelease(AddinShmemInitLock);
}

void install_shmem_hooks() {
    prev_shmem_request_hook = shmem_request_hook;
    shmem_request_hook = request_shmem;
    prev_shmem_startup_hook = shmem_startup_hook;
    shmem_startup_hook = startup_shmem;
}

// Runs after the commit is visible to others: the worker that wakes up sees
// the new queue rows. Only sets latches, so it cannot fail.
static void wake_now() {
    if (!shared) return;
    PGPROC* target = nullptr;
    bool all_busy_long = true;  // every worker of the database is in a statement that may wait long
    WorkerSlot* busy_long = nullptr;
    SpinLockAcquire(&shared->mutex);
    for (int i = 0; i < shared->nslots; i++)
        // A worker that is leaving (idle, its slot given away) would not look again.
        if (shared->slots[i].database == MyDatabaseId && shared->slots[i].proc && !shared->slots[i].leaving) {
            target = shared->slots[i].proc;
            shared->slots[i].woken = true;
            if (shared->slots[i].in_long_statement) busy_long = &shared->slots[i];
            else all_busy_long = false;
        }
    PGPROC* launcher_too = nullptr;
    if (target && all_busy_long && busy_long) {
        busy_long->wants_helper = true;  // the new work gets a helper (launcher.cpp)
        launcher_too = shared->launcher;
    }
    if (!target) {
        shared->rescan = true;
        bool known = false;
        for (int i = 0; i < shared->nrequests; i++)
            if (shared->requests[i] == MyDatabaseId) known = true;
        if (!known) {
            if (shared->nrequests < kMaxWakeRequests) shared->requests[shared->nrequests++] = MyDatabaseId;
            else shared->requests_overflowed = true;
        }
        target = shared->launcher;
    }
    SpinLockRelease(&shared->mutex);
    if (target) SetLatch(&target->procLatch);
    if (launcher_too) SetLatch(&launcher_too->procLatch);
}

static void xact_callback(XactEvent event, void*) {
    switch (event) {
        case XACT_EVENT_COMMIT:
        case XACT_EVENT_PARALLEL_COMMIT:
            if (wake_pending) wake_now();
            wake_pending = false;
            break;
        case XACT_EVENT_ABORT:
        case XACT_EVENT_PARALLEL_ABORT:
            wake_pending = false;
            break;
        default: break;
    }
}

void wake_worker_at_commit() { wake_pending = true; }

void register_xact_callback() { RegisterXactCallback(xact_callback, nullptr); }

bool lease_update(const std::string& update_name) {
    if (!shared || my_worker_slot < 0) return true;
    uint32 h = hash_bytes(reinterpret_cast<const unsigned char*>(update_name.data()), static_cast<int>(update_name.size()));
    if (h == 0) h = 1;  // 0 means no lease
    bool ok = true;
    SpinLockAcquire(&shared->mutex);
    Oid db = shared->slots[my_worker_slot].database;
    for (int i = 0; i < shared->nslots; i++) {
        const WorkerSlot& s = shared->slots[i];
        if (i != my_worker_slot && s.database == db && s.pid && !s.idle && !s.leaving && s.lease == h) ok = false;
    }
    if (ok) shared->slots[my_worker_slot].lease = h;
    SpinLockRelease(&shared->mutex);
    return ok;
}

void note_running_update(uint32 hash) {
    if (!shared || my_worker_slot < 0) return;
    SpinLockAcquire(&shared->mutex);
    shared->slots[my_worker_slot].running = hash;
    if (hash != 0) shared->slots[my_worker_slot].cancel_for = 0;  // a new batch: no cancel meant for it yet
    SpinLockRelease(&shared->mutex);
}

int request_worker_cancel(uint32 hash) {
    if (!shared || hash == 0) return 0;
    int pid = 0;
    SpinLockAcquire(&shared->mutex);
    for (int i = 0; i < shared->nslots && !pid; i++) {
        WorkerSlot& s = shared->slots[i];
        if (s.database == MyDatabaseId && s.pid && s.running == hash) {
            s.cancel_for = hash;
            pid = s.pid;
        }
    }
    SpinLockRelease(&shared->mutex);
    return pid;
}

uint32 worker_cancel_target() {
    if (!shared || my_worker_slot < 0) return 0;
    SpinLockAcquire(&shared->mutex);
    uint32 target = shared->slots[my_worker_slot].cancel_for;
    SpinLockRelease(&shared->mutex);
    return target;
}

void note_long_statement(bool running) {
    if (!shared || my_worker_slot < 0) return;
    PGPROC* launcher = nullptr;
    SpinLockAcquire(&shared->mutex);
    shared->slots[my_worker_slot].in_long_statement = running;
    if (running) {
        // Work already queued gets a helper now; a helper with nothing to do leaves.
        shared->slots[my_worker_slot].wants_helper = true;
        launcher = shared->launcher;
    }
    SpinLockRelease(&shared->mutex);
    if (launcher) SetLatch(&launcher->procLatch);
}

static ProcessUtility_hook_type prev_utility_hook = nullptr;

// A worker connected to a database makes DROP DATABASE fail with "database
// is being accessed by other users" (only autovacuum is asked to leave).
// Ask ours to leave too; DROP DATABASE then waits up to 5 s for it to exit.
static void utility_hook(PlannedStmt* pstmt, const char* query, bool read_only_tree, ProcessUtilityContext context,
                         ParamListInfo params, QueryEnvironment* env, DestReceiver* dest, QueryCompletion* qc) {
    Node* stmt = pstmt->utilityStmt;
    if (shared && IsA(stmt, DropdbStmt)) {
        Oid db = get_database_oid(castNode(DropdbStmt, stmt)->dbname, true);
        pid_t pids[1024];
        int npids = 0;
        if (OidIsValid(db)) {
            SpinLockAcquire(&shared->mutex);
            for (int i = 0; i < shared->nslots && npids < 1024; i++)
                if (shared->slots[i].database == db && shared->slots[i].pid) {
                    shared->slots[i].stopping = true;
                    pids[npids++] = shared->slots[i].pid;
                }
            SpinLockRelease(&shared->mutex);
        }
        for (int i = 0; i < npids; i++) kill(pids[i], SIGTERM);  // every worker of that database
    }
    if (prev_utility_hook)
        prev_utility_hook(pstmt, query, read_only_tree, context, params, env, dest, qc);
    else
        standard_ProcessUtility(pstmt, query, read_only_tree, context, params, env, dest, qc);
}

void install_utility_hook() {
    prev_utility_hook = ProcessUtility_hook;
    ProcessUtility_hook = utility_hook;
}

}  // namespace bgupdate_pg
