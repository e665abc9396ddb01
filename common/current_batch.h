// Marks which updates' batches are running on this thread (a stack: a
// generic handler may call step(), which runs another update's batch inside).
// end_update called from inside a handler leaves the completion record to the
// runner (which knows the batch's final totals), and finish() or step() never
// re-enter an update whose batch is already running here.
#pragma once

#include <string>

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

private:
    const std::string& name_;
    const CurrentBatch* previous_;
    static thread_local const CurrentBatch* top_;
};

}  // namespace bgupdate
