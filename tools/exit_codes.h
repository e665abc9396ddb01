// Exit codes scripts can rely on (README "The command-line tool").
#pragma once

namespace bgtool {

enum ExitCode {
    kOk = 0,            // done: nothing remains
    kError = 1,         // bad input, a database error, a delta that failed
    kUsage = 2,         // the command line itself is wrong
    kRemaining = 3,     // updates remain (run/wait stopped early, check found pending work)
    kBlocked = 4,       // updates failed, or cannot proceed (paused, disabled, waiting on a failed one)
    kIncompatible = 5,  // the schema is newer than the code (compat version) or not migrated to it
    kStoppedAtPython = 6,  // migrate --stop-on-python stopped before a .py delta
};

}  // namespace bgtool
