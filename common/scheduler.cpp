#include "scheduler.h"

#include <algorithm>
#include <map>

namespace bgupdate {

std::string SchedulePlan::describe_cycles() const {
    std::string out;
    for (auto& cycle : cycles) {
        if (!out.empty()) out += "; ";
        for (size_t i = 0; i < cycle.size(); ++i) out += (i ? " -> " : "") + cycle[i];
    }
    return out;
}

SchedulePlan plan_schedule(std::vector<QueueEntry> entries) {
    std::sort(entries.begin(), entries.end(), [](const QueueEntry& a, const QueueEntry& b) {
        return a.ordering != b.ordering ? a.ordering < b.ordering : a.name < b.name;
    });
    std::map<std::string, const QueueEntry*> queued;
    for (auto& e : entries) queued[e.name] = &e;

    SchedulePlan plan;
    for (auto& e : entries) {
        bool waits = e.depends_on && queued.count(*e.depends_on);
        if (waits) plan.waiting.insert(e.name);
        else if (!e.blocked) plan.runnable.push_back(e.name);
    }

    // Each update depends on at most one other, so following depends_on from
    // any update either ends or runs into a loop; walk each chain once.
    std::map<std::string, int> seen;  // 0 unseen, 1 on the current walk, 2 done
    for (auto& e : entries) {
        std::vector<std::string> path;
        std::string cur = e.name;
        for (;;) {
            if (seen[cur] == 2) break;
            if (seen[cur] == 1) {
                std::vector<std::string> cycle(std::find(path.begin(), path.end(), cur), path.end());
                // Start at the smallest name so the description is stable.
                std::rotate(cycle.begin(), std::min_element(cycle.begin(), cycle.end()), cycle.end());
                cycle.push_back(cycle.front());
                plan.cycles.push_back(cycle);
                break;
            }
            seen[cur] = 1;
            path.push_back(cur);
            const auto& dep = queued[cur]->depends_on;
            if (!dep || !queued.count(*dep)) break;
            cur = *dep;
        }
        for (auto& p : path) seen[p] = 2;
    }
    return plan;
}

}  // namespace bgupdate
