// One atomic batch on the engine as a scope: BatchTransaction begins it and
// rolls it back when the scope ends without commit() (an error on the way
// out); in_batch runs a piece of work in one: committed if it returns,
// rolled back (and the error passed on) if it throws.
#pragma once

#include <type_traits>

#include "engine.h"
#include "settings.h"

namespace bgupdate {

class BatchTransaction {
public:
    BatchTransaction(Engine& e, const Settings& settings) : e_(e) {
        e_.begin_batch(settings.lock_timeout_ms, settings.statement_timeout_ms);
    }
    ~BatchTransaction() {
        if (open_) try { e_.rollback_batch(); } catch (...) {}  // the original error matters more
    }
    // A commit that fails leaves the batch to the destructor's rollback.
    void commit() {
        e_.commit_batch();
        open_ = false;
    }
    void rollback() {
        open_ = false;
        e_.rollback_batch();
    }
    BatchTransaction(const BatchTransaction&) = delete;
    BatchTransaction& operator=(const BatchTransaction&) = delete;

private:
    Engine& e_;
    bool open_ = true;
};

template <typename Work>
auto in_batch(Engine& engine, const Settings& settings, Work&& work) -> decltype(work()) {
    BatchTransaction batch(engine, settings);
    if constexpr (std::is_void_v<decltype(work())>) {
        work();
        batch.commit();
    } else {
        auto result = work();
        batch.commit();
        return result;
    }
}

}  // namespace bgupdate
