// Per-connection state of the extension, shared by every SQL function and the
// status table registered on that connection. Reference-counted: each
// registration holds one reference and its destructor (run by SQLite when the
// function is replaced or the connection closes, before the .so is unloaded)
// drops it; the last one stops the background thread and frees the state.
#pragma once

#include <atomic>

#include "api.h"
#include "background_thread.h"
#include "sqlite_engine.h"

namespace bgupdate_sqlite {

struct Connection {
    explicit Connection(sqlite3* d) : db(d), engine(d, nullptr, /*app_functions=*/true), api(engine) {}

    sqlite3* db;
    SqliteEngine engine;
    bgupdate::Api api;
    BackgroundThread thread;
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
