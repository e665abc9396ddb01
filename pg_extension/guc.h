// GUCs bgupdate.<key> for every runner setting of the core (settings.h),
// plus the worker's own knobs.
#pragma once

namespace bgupdate_pg {

extern int naptime_ms;          // bgupdate.naptime_ms: idle worker's fallback poll
extern int launcher_rescan_ms;  // bgupdate.launcher_rescan_ms: database scan interval
extern bool worker_enabled;     // bgupdate.worker_enabled: cluster-wide off switch for the workers
extern int worker_turn_ms;      // bgupdate.worker_turn_ms: a busy worker's turn while databases wait for a slot

void define_gucs(bool preloading);

}  // namespace bgupdate_pg
