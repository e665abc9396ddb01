// The optional background runner of bgupdate_start(): a thread with its own
// connection to the same database file that runs declarative updates
// (index, constraint, batched-update handlers) by itself. Generic handlers
// are application functions that exist only on the application's connection,
// so they are left to the application's bgupdate_step().
#pragma once

#include <atomic>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "connection_trust.h"
#include "sqlite_api.h"

namespace bgupdate_sqlite {

class BackgroundThread {
public:
    BackgroundThread() = default;
    ~BackgroundThread() { stop(); }
    BackgroundThread(const BackgroundThread&) = delete;
    BackgroundThread& operator=(const BackgroundThread&) = delete;

    // Opens a connection to `filename` (throws bgupdate::Error naming the
    // problem if it cannot) and starts the thread on it; false if it is
    // already running.
    // The thread honours what the starting connection trusts: its
    // application's allowed functions and registrations (shared), and its
    // PRAGMA trusted_schema as it was at the start.
    bool start(const std::string& filename, std::shared_ptr<const ConnectionTrust> trust, bool trusted_schema);
    // Asks the thread to stop and joins it (the batch in progress, if any,
    // finishes or rolls back first); false if it was not running.
    bool stop();
    bool running() const { return thread_.joinable(); }

private:
    void loop(sqlite3* db, std::shared_ptr<const ConnectionTrust> trust);

    std::thread thread_;
    std::atomic<bool> stop_{false};
    std::mutex mutex_;  // serialises start/stop
};

}  // namespace bgupdate_sqlite
