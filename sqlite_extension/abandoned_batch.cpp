#include "abandoned_batch.h"

namespace bgupdate_sqlite {

std::string abandoned_batch_reason(Connection& conn) {
    if (!conn.open_batch) return "";
    const std::string& name = conn.open_batch->claimed.row.update_name;
    if (conn.engine.foreign_commit_refused())
        return "the application ended the batch of background update '" + name +
               "' with COMMIT instead of batch_end(): bgupdate turned that COMMIT into a ROLLBACK (a batch's work "
               "and its progress commit together or not at all), so the next batch does its rows again";
    if (!conn.engine.batch_is_open())
        return "the application rolled back the batch of background update '" + name +
               "' before batch_end(): its work was undone and its progress not saved";
    return "";
}

bgupdate::StepOutcome settle_abandoned_batch(Connection& conn, const std::string& reason) {
    bgupdate::ApplicationBatch open = std::move(*conn.open_batch);
    conn.open_batch.reset();
    conn.engine.watch_application_batch(false);
    const std::string name = open.claimed.row.update_name;
    // The engine still counts the batch as open: its transaction is gone, so
    // this only restores what the batch set (busy timeout, progress handler).
    try { conn.engine.rollback_batch(); } catch (...) {}
    bgupdate::StepOutcome out;
    try {
        out = conn.api.record_abandoned_batch(open, reason);
    } catch (...) {
        conn.engine.release_update(name);
        throw;
    }
    conn.engine.release_update(name);
    return out;
}

void watch_open_batch(Connection& conn) { conn.engine.watch_application_batch(conn.open_batch.has_value()); }

}  // namespace bgupdate_sqlite
