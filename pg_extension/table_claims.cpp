// Claims on the table an update writes to (Engine::try_claim_table),
// held like the update claims in spi_engine.cpp: the worker's are session
// locks spanning the transactions of one batch (CREATE INDEX CONCURRENTLY
// commits in between), a session's end with its transaction. Every known
// table takes the database's "all tables" lock shared and its own key
// exclusively; an unknown table (generic handler) takes "all tables"
// exclusively, so it runs alone. A partition (an update on a partitioned
// table, run partition by partition) takes its own key exclusively and its
// table's key shared: partitions of one table run side by side, never beside
// an update of the table as a whole. Never waits: a claim that is not free
// now makes the runner pick another update.
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

uint32 relation_key(const std::string& relation) {
    return hash_bytes(reinterpret_cast<const unsigned char*>(relation.data()), static_cast<int>(relation.size()));
}

}  // namespace

bool SpiEngine::try_claim_partition(const std::string& parent, const std::string& partition) {
    release_table();
    const bool session_lock = mode_ == Mode::Worker;  // a session's end with its transaction
    LOCKTAG all, table, part;
    all_tables_tag(&all);
    uint32 parent_key = relation_key(parent), key = relation_key(partition);
    table_tag(&table, parent_key);
    table_tag(&part, key);
    if (!try_lock(&all, ShareLock, session_lock)) return false;
    if (!try_lock(&table, ShareLock, session_lock)) {
        if (session_lock) unlock(&all, ShareLock);
        return false;
    }
    if (!try_lock(&part, ExclusiveLock, session_lock)) {
        if (session_lock) {
            unlock(&table, ShareLock);
            unlock(&all, ShareLock);
        }
        return false;
    }
    table_claim_ = 3;
    table_key_ = key;
    parent_key_ = parent_key;
    return true;
}

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
    uint32 key = relation_key(*relation);
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
    } else if (table_claim_ == 3) {
        LOCKTAG one, parent;
        table_tag(&one, table_key_);
        table_tag(&parent, parent_key_);
        unlock(&one, ExclusiveLock);
        unlock(&parent, ShareLock);
        unlock(&all, ShareLock);
    }
    table_claim_ = 0;
}

}  // namespace bgupdate_pg
