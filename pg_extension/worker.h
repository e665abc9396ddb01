// The launcher (one per cluster) and the per-database workers.
#pragma once

#include "pg_headers.h"

namespace bgupdate_pg {

void register_launcher();
// Memory that worker code uses between transactions (reset every loop).
extern MemoryContext worker_loop_context;
// Rereads the configuration when a reload (SIGHUP) was asked for since the
// last call; true when it did. The launcher and the workers call it in their
// loops and waits. May ereport.
bool process_reload_request();

}  // namespace bgupdate_pg

extern "C" {
PGDLLEXPORT void bgupdate_launcher_main(Datum arg);
PGDLLEXPORT void bgupdate_worker_main(Datum arg);
}
