// The run command's loop (Synapse's offline mode): step() until every update
// is complete, or none can go on, or time runs out. Also used by port, which
// finishes pending updates on both sides before copying.
#pragma once

#include <string>
#include <vector>

#include "commands.h"
#include "progress.h"

namespace bgtool {

struct RunOutcome {
    int code = 0;            // kOk, kRemaining (time ran out), kBlocked (failed, paused, disabled, …)
    std::string reason;      // why it stopped, for people
    std::vector<std::string> finished;
    int64_t batches = 0;
    double seconds = 0;
};

RunOutcome run_updates(Connection& db, const RunOptions& o, Progress& progress);

}  // namespace bgtool
