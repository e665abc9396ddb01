// Library entry: GUCs and the commit-time wake callback in every backend;
// shared memory and the launcher only when preloaded.
#include "guc.h"
#include "pg_headers.h"
#include "shmem.h"
#include "worker.h"

extern "C" {
PGDLLEXPORT void _PG_init(void);
}

void _PG_init(void) {
    bgupdate_pg::define_gucs(process_shared_preload_libraries_in_progress);
    bgupdate_pg::register_xact_callback();
    if (!process_shared_preload_libraries_in_progress) return;
    bgupdate_pg::install_shmem_hooks();
    bgupdate_pg::install_utility_hook();
    bgupdate_pg::register_launcher();
}
