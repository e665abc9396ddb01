// Marks which update's batch is running on this thread, so that end_update
// called from inside a generic handler leaves the completion record to the
// runner (which knows the batch's final totals).
#pragma once

#include <string>

namespace bgupdate {

class CurrentBatch {
public:
    explicit CurrentBatch(const std::string& name) : previous_(current_) { current_ = &name; }
    ~CurrentBatch() { current_ = previous_; }
    CurrentBatch(const CurrentBatch&) = delete;
    CurrentBatch& operator=(const CurrentBatch&) = delete;
    static bool is(const std::string& name) { return current_ && *current_ == name; }

private:
    const std::string* previous_;
    static thread_local const std::string* current_;
};

}  // namespace bgupdate
