#include "batch_watchdog.h"

#include <cstring>

namespace bgupdate_pg {

namespace {

constexpr int kNotes = 64;
constexpr int kNameLen = 256;

struct OverrunNote {
    Oid database;  // InvalidOid: free
    int64 limit_ms;
    char update_name[kNameLen];
};

struct Notes {
    slock_t mutex;
    OverrunNote notes[kNotes];
};

Notes* notes = nullptr;
TimeoutId timeout_id = MAX_TIMEOUTS;
volatile sig_atomic_t overran = false;
bool armed = false;
int64 armed_limit_ms = 0;
char current_update[kNameLen] = "";

// Runs in a signal handler: only flags, as PostgreSQL's die() does.
void on_hard_limit() {
    overran = true;
    InterruptPending = true;
    ProcDiePending = true;
    SetLatch(MyLatch);
}

// Runs as the worker exits (FATAL from the flags above), before shared memory goes.
void leave_note(int, Datum) {
    if (!overran || !notes || !current_update[0]) return;
    SpinLockAcquire(&notes->mutex);
    for (int i = 0; i < kNotes; i++) {
        if (OidIsValid(notes->notes[i].database)) continue;
        notes->notes[i].database = MyDatabaseId;
        notes->notes[i].limit_ms = armed_limit_ms;
        strlcpy(notes->notes[i].update_name, current_update, kNameLen);
        break;
    }
    SpinLockRelease(&notes->mutex);
}

}  // namespace

Size watchdog_shmem_size() { return sizeof(Notes); }

void watchdog_shmem_init() {
    bool found;
    notes = static_cast<Notes*>(ShmemInitStruct("bgupdate batch watchdog", sizeof(Notes), &found));
    if (!found) {
        memset(notes, 0, sizeof(Notes));
        SpinLockInit(&notes->mutex);
    }
}

void watchdog_init() {
    timeout_id = RegisterTimeout(USER_TIMEOUT, on_hard_limit);
    before_shmem_exit(leave_note, 0);
}

void watchdog_arm(int64_t statement_timeout_ms) {
    if (timeout_id == MAX_TIMEOUTS || statement_timeout_ms <= 0) return;
    armed_limit_ms = statement_timeout_ms * kHardLimitFactor;
    enable_timeout_after(timeout_id, static_cast<int>(armed_limit_ms));
    armed = true;
}

void watchdog_name(const std::string& update_name) { strlcpy(current_update, update_name.c_str(), kNameLen); }

void watchdog_disarm() {
    if (!armed) return;
    armed = false;
    disable_timeout(timeout_id, false);
}

std::string watchdog_take_note(int64_t* limit_ms) {
    std::string name;
    if (!notes) return name;
    char found[kNameLen] = "";
    SpinLockAcquire(&notes->mutex);
    for (int i = 0; i < kNotes; i++) {
        if (notes->notes[i].database != MyDatabaseId) continue;
        strlcpy(found, notes->notes[i].update_name, kNameLen);
        *limit_ms = notes->notes[i].limit_ms;
        notes->notes[i].database = InvalidOid;
        break;
    }
    SpinLockRelease(&notes->mutex);
    name = found;
    return name;
}

}  // namespace bgupdate_pg
