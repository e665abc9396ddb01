// How long a queued update will take: the GitLab guide asks every migration
// author to work this out by hand. Measured, not guessed: one trial batch of
// the update runs and is rolled back (nothing it did stays, nor its record),
// then items left, batch size, sleeps and the total follow from the same
// sizing rules the runner uses.
#pragma once

#include <string>

#include "api_types.h"

#include "engine.h"

namespace bgupdate {

// A JSON object: update_name, items_done, total_estimate, items_left,
// trial_batch_size, trial_items, trial_ms, ms_per_item, batch_size (at the
// target duration), batch_ms (time per batch), batches, sleep_ms (each), sleep_seconds, work_seconds,
// total_seconds; null where unknown, and "note" saying why.
// `caller_rolls_back`: the caller has opened a (sub)transaction it will roll
// back (PostgreSQL's session engine cannot nest batches); otherwise the trial
// runs inside an outer batch of its own that is rolled back here.
std::string estimate_update(Engine& engine, const std::string& update_name, const RunScope& base = {},
                            bool caller_rolls_back = false);

}  // namespace bgupdate
