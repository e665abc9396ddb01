// Shared memory between the launcher, the per-database workers and ordinary
// backends: which worker serves which database (so a committing backend can
// set that worker's latch), and the launcher's latch.
#pragma once

#include <string>

#include "pg_headers.h"

namespace bgupdate_pg {

// A slot is one worker process. A database has one worker, plus helpers
// (up to bgupdate.max_parallel in all) while it has independent updates on
// different tables. Idle workers give their slot up when a database with
// work needs one (see launcher.cpp).
struct WorkerSlot {
    Oid database;       // InvalidOid: free
    pid_t pid;
    PGPROC* proc;       // set by the worker once it runs; its latch is woken
    bool no_extension;  // the worker found no bgupdate extension and exited
    bool stopping;      // stopped for DROP DATABASE: do not restart it soon
    bool idle;             // its last look at the queue found nothing to run (and no backoff about to end)
    bool yield_requested;  // the launcher needs the slot for another database: leave if still idle
    bool leaving;          // the worker is exiting because it was idle (or a spare helper)
    bool wants_helper;     // the worker saw independent work for one more worker of its database
    bool woken;            // a commit woke it since it last looked at the queue (so it must not leave)
    uint32 lease;          // hash of the update it works on; other workers of its database skip it (0: none)
    uint32 running;        // hash of the update whose claim it holds now, batch running (0: none)
    uint32 cancel_for;     // cancel() of that update signalled it (0: none); cleared at its next claim
    bool in_long_statement;  // runs a statement that may wait long (CREATE INDEX CONCURRENTLY): work
                             // committed meanwhile needs a helper, not this worker's latch
    TimestampTz started_at;  // when the launcher gave it the slot
    bool turn_requested;     // databases wait and its turn is over: leave after the current run, busy or not
};

constexpr int kMaxWakeRequests = 64;

struct SharedState {
    slock_t mutex;
    PGPROC* launcher;
    bool rescan;  // a backend asked the launcher to look for new work
    // Databases whose commit found no worker to wake: the launcher starts
    // one, taking the slot of an idle worker elsewhere if none is free.
    Oid requests[kMaxWakeRequests];
    int nrequests;
    bool requests_overflowed;  // more than kMaxWakeRequests: the launcher forgets what it knew about every database
    int nslots;
    WorkerSlot slots[FLEXIBLE_ARRAY_MEMBER];
};

extern SharedState* shared;  // nullptr unless loaded by shared_preload_libraries
extern int max_workers;      // GUC bgupdate.max_workers: worker processes (slots) in all
extern int max_parallel;     // GUC bgupdate.max_parallel: most workers of one database at once
extern int my_worker_slot;   // in a worker: its slot; -1 elsewhere

// In a worker: take the lease on an update before running its batch; false
// when another worker of this database is working on it (between its
// batches too, so two workers do not take turns on one update while an
// independent one waits).
bool lease_update(const std::string& update_name);

// In a worker: the update whose batch runs now (its hash; 0 after it ends).
void note_running_update(uint32 hash);
// cancel(): the pid of this database's worker running that update's batch
// (marked as cancelled for it), or 0 when no worker runs it.
int request_worker_cancel(uint32 hash);
// In a worker: the update a cancel() was meant for (0: none since its claim).
uint32 worker_cancel_target();
// In a worker, around a statement that may wait long (CREATE INDEX
// CONCURRENTLY waits for every older transaction): while it runs, work for
// this database gets a helper worker (up to bgupdate.max_parallel).
void note_long_statement(bool running);

void install_shmem_hooks();
// Wake the worker of this database when the current transaction commits
// (or the launcher, when the database has no worker yet).
void wake_worker_at_commit();
void register_xact_callback();
// DROP DATABASE: stop that database's worker first (it would block the drop).
void install_utility_hook();

}  // namespace bgupdate_pg
