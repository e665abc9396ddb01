// SQLite lets an extension set a connection's authorizer and commit hook but
// not read them back, and each connection has only one of each: installing
// ours for a batch would silently drop the application's. This finds where
// the running SQLite library keeps them (see callback_slots.cpp), so that the
// application's callback can be read, chained and put back afterwards.
#pragma once

#include "sqlite_api.h"

namespace bgupdate_sqlite {

using AuthorizerFn = int (*)(void*, int, const char*, const char*, const char*, const char*);
using CommitHookFn = int (*)(void*);

struct Authorizer {
    AuthorizerFn fn = nullptr;
    void* arg = nullptr;
};

struct CommitHook {
    CommitHookFn fn = nullptr;
    void* arg = nullptr;
};

// The callback currently installed on `db`; `known` is false when this
// SQLite library could not be probed (then the caller assumes none).
Authorizer current_authorizer(sqlite3* db, bool* known);
CommitHook current_commit_hook(sqlite3* db, bool* known);

}  // namespace bgupdate_sqlite
