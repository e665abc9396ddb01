#include "background_thread.h"

#include <algorithm>

#include "api.h"
#include "errors.h"
#include "runner.h"
#include "settings.h"
#include "sqlite_api.h"
#include "sqlite_engine.h"

namespace bgupdate_sqlite {

namespace {

constexpr int64_t kIdlePollMs = 200;      // nothing to do: look again this often
constexpr int64_t kErrorPauseMs = 1000;   // after an error outside a batch

}  // namespace

bool BackgroundThread::start(const std::string& filename, std::shared_ptr<const ConnectionTrust> trust,
                             bool trusted_schema) {
    std::lock_guard<std::mutex> lock(mutex_);
    if (thread_.joinable()) return false;
    // Opened here, so that a failure is reported to bgupdate_start()'s caller;
    // from then on only the thread uses it (FULLMUTEX: safe to hand over).
    sqlite3* db = nullptr;
    int rc = sqlite3_open_v2(filename.c_str(), &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_FULLMUTEX, nullptr);
    if (rc != SQLITE_OK) {
        std::string msg = db ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
        if (db) sqlite3_close(db);
        throw bgupdate::Error(bgupdate::ErrorKind::Failure,
                              "cannot open a connection to '" + filename + "' for the background thread: " + msg);
    }
    if (!trusted_schema && sqlite3_exec(db, "PRAGMA trusted_schema = OFF", nullptr, nullptr, nullptr) != SQLITE_OK) {
        std::string msg = sqlite3_errmsg(db);
        sqlite3_close(db);
        throw bgupdate::Error(bgupdate::ErrorKind::Failure,
                              "cannot turn trusted_schema off on the background thread's connection: " + msg);
    }
    stop_ = false;
    thread_ = std::thread(&BackgroundThread::loop, this, db, std::move(trust));
    return true;
}

bool BackgroundThread::stop() {
    std::lock_guard<std::mutex> lock(mutex_);
    if (!thread_.joinable()) return false;
    stop_ = true;
    thread_.join();
    return true;
}

void BackgroundThread::loop(sqlite3* db, std::shared_ptr<const ConnectionTrust> trust) {
    // SQLite API calls from this thread go through the same routine table as
    // the loading connection's (function pointers into the process's
    // libsqlite3, built THREADSAFE=1; checked by bgupdate_start); this
    // connection is used by this thread only.
    {
        SqliteEngine engine(db, &stop_, /*app_functions=*/false, std::move(trust));
        bgupdate::Api api(engine);
        bgupdate::RunScope scope;
        scope.declarative_only = true;
        SqliteEngine::StatementScope keep_statements(engine);  // finalized before the connection closes
        while (!stop_) {
            int64_t pause_ms = kIdlePollMs;
            try {
                api.ensure_schema();
                bgupdate::StepOutcome out = api.step(scope);
                if (out.update_name) pause_ms = bgupdate::pause_after_batch_ms(out, bgupdate::load_settings(engine));
            } catch (const std::exception&) {
                // Failures are recorded by the core against the update; errors
                // outside a batch (locked database, cycle) are retried later.
                pause_ms = kErrorPauseMs;
            }
            if (!engine.sleep_ms(pause_ms)) break;
        }
    }
    sqlite3_close(db);
}

}  // namespace bgupdate_sqlite
