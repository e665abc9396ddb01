// Running another program (pg_dump) and collecting what it printed.
#pragma once

#include <map>
#include <string>
#include <vector>

namespace bgtool {

struct ProcessResult {
    int exit_code = -1;  // -1: did not start or was killed by a signal
    std::string out;     // stdout
    std::string err;     // stderr
};

// Runs argv[0] (looked up on PATH when it has no '/') with `env` added to
// this process's environment; no stdin. Throws DbError when it cannot start.
ProcessResult run_process(const std::vector<std::string>& argv, const std::map<std::string, std::string>& env = {});

}  // namespace bgtool
