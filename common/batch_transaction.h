// Runs a piece of work as one atomic batch on the engine: committed if it
// returns, rolled back (and the error passed on) if it throws.
#pragma once

#include "engine.h"
#include "settings.h"

namespace bgupdate {

template <typename Work>
auto in_batch(Engine& engine, const Settings& settings, Work&& work) -> decltype(work()) {
    engine.begin_batch(settings.lock_timeout_ms, settings.statement_timeout_ms);
    try {
        if constexpr (std::is_void_v<decltype(work())>) {
            work();
            engine.commit_batch();
        } else {
            auto result = work();
            engine.commit_batch();
            return result;
        }
    } catch (...) {
        try { engine.rollback_batch(); } catch (...) {}  // the original error matters more
        throw;
    }
}

}  // namespace bgupdate
