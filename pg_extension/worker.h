// The launcher (one per cluster) and the per-database workers.
#pragma once

#include "pg_headers.h"

namespace bgupdate_pg {

void register_launcher();
// Memory that worker code uses between transactions (reset every loop).
extern MemoryContext worker_loop_context;

}  // namespace bgupdate_pg

extern "C" {
PGDLLEXPORT void bgupdate_launcher_main(Datum arg);
PGDLLEXPORT void bgupdate_worker_main(Datum arg);
}
