// How the slots are found: once per process, on a private in-memory
// connection, a callback with a known function and argument is installed
// and the connection object is searched for those two values side by side
// (within the object's own allocation, sqlite3_msize), then a second pair and
// finally none are installed to confirm the place. Every connection of one
// library has the same layout, so the application's connection is then read
// at that place. A library where this fails (SQLITE_OMIT_AUTHORIZATION, an
// unusual allocator) reports `known = false`.
#include "callback_slots.h"

#include <cstdint>
#include <cstring>
#include <mutex>

namespace bgupdate_sqlite {

namespace {

struct Slot {
    bool found = false;
    size_t fn_word = 0, arg_word = 0;
    sqlite3_uint64 object_bytes = 0;  // the connection object's allocation, for a sanity check
};

Slot g_authorizer, g_commit_hook;
std::once_flag g_probed;

int probe_authorizer_a(void*, int, const char*, const char*, const char*, const char*) { return SQLITE_OK; }
int probe_authorizer_b(void*, int, const char*, const char*, const char*, const char*) { return SQLITE_OK; }
int probe_commit_a(void*) { return 0; }
int probe_commit_b(void*) { return 0; }
char g_arg_a, g_arg_b;

template <typename Fn>
uintptr_t as_word(Fn fn) {
    uintptr_t w = 0;
    static_assert(sizeof(fn) == sizeof(w), "function pointers must be one word");
    std::memcpy(&w, &fn, sizeof(w));
    return w;
}

uintptr_t word_at(const sqlite3* db, size_t index) {
    uintptr_t w = 0;
    std::memcpy(&w, reinterpret_cast<const unsigned char*>(db) + index * sizeof(uintptr_t), sizeof(w));
    return w;
}

// `install(db, which)`: 0 = pair a, 1 = pair b, 2 = none.
template <typename Install>
Slot locate(sqlite3* db, uintptr_t fn_a, uintptr_t fn_b, Install install) {
    Slot s;
    s.object_bytes = sqlite3_msize(db);
    const size_t words = static_cast<size_t>(s.object_bytes / sizeof(uintptr_t));
    const uintptr_t arg_a = reinterpret_cast<uintptr_t>(&g_arg_a), arg_b = reinterpret_cast<uintptr_t>(&g_arg_b);
    install(db, 0);
    for (size_t i = 0; i + 1 < words && !s.found; ++i) {
        if (word_at(db, i) == fn_a && word_at(db, i + 1) == arg_a) {
            s = Slot{true, i, i + 1, s.object_bytes};
        } else if (word_at(db, i) == arg_a && word_at(db, i + 1) == fn_a) {
            s = Slot{true, i + 1, i, s.object_bytes};
        }
    }
    if (!s.found) return s;
    install(db, 1);
    bool second = word_at(db, s.fn_word) == fn_b && word_at(db, s.arg_word) == arg_b;
    install(db, 2);
    bool cleared = word_at(db, s.fn_word) == 0 && word_at(db, s.arg_word) == 0;
    if (!second || !cleared) s.found = false;
    return s;
}

void probe() {
    sqlite3* db = nullptr;
    if (sqlite3_open_v2(":memory:", &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, nullptr) != SQLITE_OK) {
        if (db) sqlite3_close(db);
        return;
    }
    g_authorizer = locate(db, as_word(&probe_authorizer_a), as_word(&probe_authorizer_b), [](sqlite3* d, int which) {
        sqlite3_set_authorizer(d, which == 0 ? probe_authorizer_a : which == 1 ? probe_authorizer_b : nullptr,
                               which == 0 ? &g_arg_a : which == 1 ? &g_arg_b : nullptr);
    });
    g_commit_hook = locate(db, as_word(&probe_commit_a), as_word(&probe_commit_b), [](sqlite3* d, int which) {
        sqlite3_commit_hook(d, which == 0 ? probe_commit_a : which == 1 ? probe_commit_b : nullptr,
                            which == 0 ? &g_arg_a : which == 1 ? &g_arg_b : nullptr);
    });
    sqlite3_close(db);
}

template <typename Fn>
bool read_slot(const Slot& s, sqlite3* db, Fn* fn, void** arg) {
    if (!s.found || sqlite3_msize(db) != s.object_bytes) return false;
    uintptr_t f = word_at(db, s.fn_word), a = word_at(db, s.arg_word);
    std::memcpy(fn, &f, sizeof(f));
    *arg = reinterpret_cast<void*>(a);
    return true;
}

}  // namespace

Authorizer current_authorizer(sqlite3* db, bool* known) {
    std::call_once(g_probed, probe);
    Authorizer a;
    *known = read_slot(g_authorizer, db, &a.fn, &a.arg);
    if (!*known) a = Authorizer{};
    return a;
}

CommitHook current_commit_hook(sqlite3* db, bool* known) {
    std::call_once(g_probed, probe);
    CommitHook h;
    *known = read_slot(g_commit_hook, db, &h.fn, &h.arg);
    if (!*known) h = CommitHook{};
    return h;
}

}  // namespace bgupdate_sqlite
