#include "setting_scope.h"

#include "error_boundary.h"

namespace bgupdate_pg {

// A probe level tells whether a (sub)transaction end already popped `level`.
void rollback_guc_level(int level) {
    if (level <= 0) return;
    pg_guard([&] {
        int probe = NewGUCNestLevel();
        AtEOXact_GUC(false, probe);
        if (level < probe) AtEOXact_GUC(false, level);
    });
}

SettingScope::SettingScope() {
    int* level = &level_;
    pg_guard([&] { *level = NewGUCNestLevel(); });
    active_ = true;
}

SettingScope::SettingScope(Oid as_role) : switched_role_(true) {
    Oid* user = &saved_user_;
    int* sec = &saved_sec_;
    int* level = &level_;
    pg_guard([&] {
        GetUserIdAndSecContext(user, sec);
        SetUserIdAndSecContext(as_role, *sec | SECURITY_LOCAL_USERID_CHANGE | SECURITY_RESTRICTED_OPERATION);
        *level = NewGUCNestLevel();
    });
    active_ = true;
}

SettingScope::~SettingScope() {
    try {
        end();
    } catch (...) {
    }
}

void SettingScope::end() {
    if (!active_) return;
    active_ = false;
    // The identity comes back even when undoing the settings fails.
    struct RestoreIdentity {
        const SettingScope& s;
        ~RestoreIdentity() {
            if (!s.switched_role_) return;
            Oid user = s.saved_user_;
            int sec = s.saved_sec_;
            try {
                pg_guard([&] { SetUserIdAndSecContext(user, sec); });
            } catch (...) {
            }
        }
    } restore{*this};
    rollback_guc_level(level_);
}

}  // namespace bgupdate_pg
