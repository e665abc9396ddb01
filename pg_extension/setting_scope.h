// A stretch of the binding whose settings do not outlive it, as PostgreSQL
// undoes what user code set in a maintenance command (AtEOXact_GUC(false,
// level)). Given a role, the stretch also runs as that role, restricted (no
// SET ROLE, no temporary objects, no cursors kept; CVE-2022-1552): how a hook
// function runs, as the role that owns it, never as the worker's superuser.
#pragma once

#include "pg_headers.h"

namespace bgupdate_pg {

// Undoes every setting made at `level` or deeper (a SET, even a non-local
// set_config), unless a (sub)transaction end already did. Level 0: nothing.
void rollback_guc_level(int level);

class SettingScope {
public:
    SettingScope();                      // settings only
    explicit SettingScope(Oid as_role);  // and as this role, restricted
    // Undoes quietly when end() was not reached: an error is already on its way.
    ~SettingScope();
    // Undoes; a failure doing so is thrown (after the identity is restored).
    void end();

    SettingScope(const SettingScope&) = delete;
    SettingScope& operator=(const SettingScope&) = delete;

private:
    bool switched_role_ = false;
    Oid saved_user_ = InvalidOid;
    int saved_sec_ = 0;
    int level_ = 0;
    bool active_ = false;
};

}  // namespace bgupdate_pg
