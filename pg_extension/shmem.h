// Shared memory between the launcher, the per-database workers and ordinary
// backends: which worker serves which database (so a committing backend can
// set that worker's latch), and the launcher's latch.
#pragma once

#include "pg_headers.h"

namespace bgupdate_pg {

struct WorkerSlot {
    Oid database;       // InvalidOid: free
    pid_t pid;
    PGPROC* proc;       // set by the worker once it runs; its latch is woken
    bool no_extension;  // the worker found no bgupdate extension and exited
    bool stopping;      // stopped for DROP DATABASE: do not restart it soon
};

struct SharedState {
    slock_t mutex;
    PGPROC* launcher;
    bool rescan;  // a backend asked the launcher to look for new work
    int nslots;
    WorkerSlot slots[FLEXIBLE_ARRAY_MEMBER];
};

extern SharedState* shared;  // nullptr unless loaded by shared_preload_libraries
extern int max_workers;      // GUC bgupdate.max_workers

void install_shmem_hooks();
// Wake the worker of this database when the current transaction commits
// (or the launcher, when the database has no worker yet).
void wake_worker_at_commit();
void register_xact_callback();
// DROP DATABASE: stop that database's worker first (it would block the drop).
void install_utility_hook();

}  // namespace bgupdate_pg
