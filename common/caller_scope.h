// The caller's own statements in its own session (the names it passes at
// registration, schema deltas it applies) resolve with the caller's
// search_path; everything else the extension runs uses the engine's safe
// path. Unrestricted: the caller is not running anybody else's code.
#pragma once

#include "engine.h"

namespace bgupdate {

class AsCaller {
public:
    explicit AsCaller(Engine& e) : e_(e) {
        Identity me = e_.current_identity();
        me.restricted = false;
        e_.enter_identity(me);
    }
    ~AsCaller() {
        try { e_.leave_identity(); } catch (...) {}  // never throw from a destructor
    }
    AsCaller(const AsCaller&) = delete;
    AsCaller& operator=(const AsCaller&) = delete;

private:
    Engine& e_;
};

}  // namespace bgupdate
