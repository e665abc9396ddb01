// Claims on the table an update writes to (Engine::try_claim_table),
// held like the update claims in spi_engine.cpp: the worker's are session
// locks spanning the transactions of one batch (CREATE INDEX CONCURRENTLY
// commits in between), a session's end with its transaction. Every known
// table takes the database's "all tables" lock shared and its own key
// exclusively; an unknown table (generic handler) takes "all tables"
// exclusively, so it runs alone. Never waits: a claim that is not free now
// makes the runner pick another update.
#include "spi_engine.h"

#include "error_boundary.h"

namespace bgupdate_pg {

namespace {

constexpr uint32 kTableClaimSpace = 0x62677574;  // "bgut"

void all_tables_tag(LOCKTAG* tag) { SET_LOCKTAG_ADVISORY(*tag, MyDatabaseId, kTableClaimSpace, 0, 4); }
void table_tag(LOCKTAG* tag, uint32 key) { SET_LOCKTAG_ADVISORY(*tag, MyDatabaseId, kTableClaimSpace, key, 3); }

bool try_lock(LOCKTAG* tag, LOCKMODE mode, bool session_lock) {
    LockAcquireResult r = LOCKACQUIRE_NOT_AVAIL;
    pg_guard([&] { r = LockAcquire(tag, mode, session_lock, true); });
    return r != LOCKACQUIRE_NOT_AVAIL;
}

void unlock(LOCKTAG* tag, LOCKMODE mode) {
    pg_guard([&] { LockRelease(tag, mode, true); });
}

}  // namespace

bool SpiEngine::try_claim_table(const std::optional<std::string>& relation) {
    release_table();  // at most one claim per worker at a time
    const bool session_lock = mode_ == Mode::Worker;
    LOCKTAG all;
    all_tables_tag(&all);
    if (!relation) {
        if (!try_lock(&all, ExclusiveLock, session_lock)) return false;
        table_claim_ = 2;
        return true;
    }
    uint32 key = hash_bytes(reinterpret_cast<const unsigned char*>(relation->data()), static_cast<int>(relation->size()));
    if (!try_lock(&all, ShareLock, session_lock)) return false;
    LOCKTAG one;
    table_tag(&one, key);
    if (!try_lock(&one, ExclusiveLock, session_lock)) {
        if (session_lock) unlock(&all, ShareLock);  // a session's ends with its transaction
        return false;
    }
    table_claim_ = 1;
    table_key_ = key;
    return true;
}

// No SPI: works in an aborted transaction and between transactions. A
// session's claims are transaction locks: they end with its transaction.
void SpiEngine::release_table() {
    if (mode_ != Mode::Worker) {
        table_claim_ = 0;
        return;
    }
    LOCKTAG all;
    all_tables_tag(&all);
    if (table_claim_ == 1) {
        LOCKTAG one;
        table_tag(&one, table_key_);
        unlock(&one, ExclusiveLock);
        unlock(&all, ShareLock);
    } else if (table_claim_ == 2) {
        unlock(&all, ExclusiveLock);
    }
    table_claim_ = 0;
}

}  // namespace bgupdate_pg
