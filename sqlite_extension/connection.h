// Per-connection state of the extension, shared by every SQL function and the
// status table registered on that connection. Reference-counted: each
// registration holds one reference and its destructor (run by SQLite when the
// function is replaced or the connection closes, before the .so is unloaded)
// drops it; the last one stops the background thread and frees the state.
#pragma once

#include <atomic>

#include <memory>
#include <optional>

#include "api.h"
#include "runner.h"
#include "background_thread.h"
#include "connection_trust.h"
#include "sqlite_engine.h"

namespace bgupdate_sqlite {

struct Connection {
    explicit Connection(sqlite3* d)
        : db(d), trust(std::make_shared<ConnectionTrust>()), engine(d, nullptr, /*app_functions=*/true, trust),
          api(engine) {}

    sqlite3* db;
    // What the application vouched for here (allowed functions, its own
    // registrations); in memory only, never in the file.
    std::shared_ptr<ConnectionTrust> trust;
    SqliteEngine engine;
    bgupdate::Api api;
    BackgroundThread thread;
    // The batch the application opened with bgupdate_batch_begin(), until
    // bgupdate_batch_end() or bgupdate_batch_fail().
    std::optional<bgupdate::ApplicationBatch> open_batch;
    std::atomic<int> refs{0};

    void add_ref() { ++refs; }
    static void release(void* p) {
        auto* c = static_cast<Connection*>(p);
        if (--c->refs == 0) {
            c->thread.stop();
            delete c;
        }
    }
};

}  // namespace bgupdate_sqlite
