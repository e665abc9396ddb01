// Marks the batch running on this thread, from its claim until it is
// committed or rolled back (hooks, health checks, the handler, fragments).
// end_update called from inside a handler leaves the completion record to the
// runner (which knows the batch's final totals), and no bgupdate function that
// opens or closes a batch may run inside one (refuse_inside_batch): a nested
// batch would end the outer one's timeouts and watchdog, or wait for itself.
#pragma once

#include <string>

#include "errors.h"

namespace bgupdate {

class CurrentBatch {
public:
    explicit CurrentBatch(const std::string& name) : name_(name), previous_(top_) { top_ = this; }
    ~CurrentBatch() { top_ = previous_; }
    CurrentBatch(const CurrentBatch&) = delete;
    CurrentBatch& operator=(const CurrentBatch&) = delete;
    // The innermost batch on this thread is `name`'s.
    static bool is(const std::string& name) { return top_ && top_->name_ == name; }
    // Any batch on this thread, at any depth, is `name`'s.
    static bool in_progress(const std::string& name) {
        for (const CurrentBatch* b = top_; b; b = b->previous_)
            if (b->name_ == name) return true;
        return false;
    }

    // The innermost batch's update, or nullptr when no batch runs here.
    static const std::string* innermost() { return top_ ? &top_->name_ : nullptr; }

private:
    const std::string& name_;
    const CurrentBatch* previous_;
    static thread_local const CurrentBatch* top_;
};

// `function` (as the user called it, e.g. "step()") opens or closes a batch:
// refused inside a running batch, with the update whose batch it is.
inline void refuse_inside_batch(const std::string& function) {
    if (const std::string* running = CurrentBatch::innermost())
        fail(ErrorKind::NotNow,
             function + " cannot run inside a batch (it is running inside the batch of background update '" +
                 *running + "')",
             "a handler, hook or SQL fragment must not run, finish or open batches: return from the batch, and the "
             "runner goes on with the next one");
}

}  // namespace bgupdate
