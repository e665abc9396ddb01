// The hard limit on a worker's batch. statement_timeout cancels a statement,
// but user code may catch the cancel (a PL/pgSQL loop with EXCEPTION WHEN
// query_canceled) and run on, holding locks and blocking every update of the
// database. At a multiple of statement_timeout_ms the watchdog terminates the
// worker instead (FATAL cannot be caught), leaves a note in shared memory,
// and the next worker of the database records the batch as a failure.
#pragma once

#include <cstdint>
#include <string>

#include "pg_headers.h"

namespace bgupdate_pg {

// How many statement timeouts a batch may run before its worker is ended.
constexpr int64_t kHardLimitFactor = 3;

// Shared memory for the notes (called from the shmem hooks).
Size watchdog_shmem_size();
void watchdog_shmem_init();

// Worker: once, after connecting.
void watchdog_init();
// Worker: around each statement of a batch's user code (statement_timer.*);
// the update is named when its claim is taken ("" when it is given back).
void watchdog_arm(int64_t statement_timeout_ms);
void watchdog_name(const std::string& update_name);
void watchdog_disarm();

// Worker: the batch a previous worker of this database was ended for, if any
// (taken: the note is removed). Empty when there is none.
std::string watchdog_take_note(int64_t* limit_ms);

}  // namespace bgupdate_pg
