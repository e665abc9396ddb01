#include "shmem.h"

namespace bgupdate_pg {

SharedState* shared = nullptr;
int max_workers = 8;

static shmem_request_hook_type prev_shmem_request_hook = nullptr;
static shmem_startup_hook_type prev_shmem_startup_hook = nullptr;
static bool wake_pending = false;

static Size shared_size() { return add_size(offsetof(SharedState, slots), mul_size(max_workers, sizeof(WorkerSlot))); }

static void request_shmem() {
    if (prev_shmem_request_hook) prev_shmem_request_hook();
    RequestAddinShmemSpace(shared_size());
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
    SpinLockAcquire(&shared->mutex);
    for (int i = 0; i < shared->nslots; i++)
        if (shared->slots[i].database == MyDatabaseId && shared->slots[i].proc) target = shared->slots[i].proc;
    if (!target) {
        shared->rescan = true;
        target = shared->launcher;
    }
    SpinLockRelease(&shared->mutex);
    if (target) SetLatch(&target->procLatch);
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

}  // namespace bgupdate_pg
