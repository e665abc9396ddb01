// Which queued update runs next: order by (ordering, update_name); an update
// whose depends_on names another queued update waits; a depends_on naming
// nothing in the queue is satisfied. Dependency cycles are found and named.
#pragma once

#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <vector>

namespace bgupdate {

struct QueueEntry {
    std::string name;
    int64_t ordering = 0;
    std::optional<std::string> depends_on;
    bool blocked = false;  // paused, failed, backing off, or out of this runner's scope
};

struct SchedulePlan {
    std::vector<std::string> runnable;  // in the order they should be tried
    std::set<std::string> waiting;      // depends on something still queued
    std::vector<std::vector<std::string>> cycles;  // each as a -> b -> ... (first repeated at end)

    // "a -> b -> a" for each cycle, joined by "; ".
    std::string describe_cycles() const;
};

SchedulePlan plan_schedule(std::vector<QueueEntry> entries);

}  // namespace bgupdate
