// The one way to run as an identity: AsIdentity switches the engine to it
// (Engine::enter_identity) and back when the scope ends, however it ends.
// A batch runs as its update's owner; the caller's own statements in its own
// session (the names it passes at registration, schema deltas it applies)
// run AsCaller: with the caller's search_path, unrestricted (the caller is
// not running anybody else's code). Everything else the extension runs uses
// the engine's safe path.
#pragma once

#include "engine.h"

namespace bgupdate {

class AsIdentity {
public:
    AsIdentity(Engine& e, const Identity& who) : e_(e) { e_.enter_identity(who); }
    ~AsIdentity() {
        try { e_.leave_identity(); } catch (...) {}  // never throw from a destructor
    }
    AsIdentity(const AsIdentity&) = delete;
    AsIdentity& operator=(const AsIdentity&) = delete;

private:
    Engine& e_;
};

class AsCaller : public AsIdentity {
public:
    explicit AsCaller(Engine& e) : AsIdentity(e, unrestricted(e.current_identity())) {}

private:
    static Identity unrestricted(Identity me) {
        me.restricted = false;
        return me;
    }
};

}  // namespace bgupdate
