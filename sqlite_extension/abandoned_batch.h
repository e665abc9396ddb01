// A batch the application opened with bgupdate_batch_begin() whose
// transaction ended without bgupdate_batch_end(): the application rolled it
// back, or committed it (which the engine turned into a rollback, see
// SqliteEngine::watch_application_batch). The next batch call on the
// connection records it as a failed attempt (backoff, max_failures), as
// PostgreSQL's next batch_begin() does, instead of "a batch is already open".
#pragma once

#include <string>

#include "connection.h"

namespace bgupdate_sqlite {

// Why the connection's open batch can no longer end normally; "" if it can
// (or none is open).
std::string abandoned_batch_reason(Connection& conn);

// Records the open batch as failed with `reason`, forgets it and releases its
// claim; returns the failure as step() reports it.
bgupdate::StepOutcome settle_abandoned_batch(Connection& conn, const std::string& reason);

// After batch_begin/batch_end/batch_fail: watch for a foreign COMMIT while a
// batch is open on the connection, and only then.
void watch_open_batch(Connection& conn);

}  // namespace bgupdate_sqlite
