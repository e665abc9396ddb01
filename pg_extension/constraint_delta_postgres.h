// PostgreSQL's add_constraint_and_enqueue: ADD CONSTRAINT … NOT VALID now
// (no scan, a short lock) and enqueue the background validation.
#pragma once

#include "constraint_delta.h"
#include "engine.h"

namespace bgupdate_pg {

class NotValidConstraintDelta final : public bgupdate::ConstraintDelta {
public:
    explicit NotValidConstraintDelta(bgupdate::Engine& engine) : engine_(engine) {}
    int64_t add_constraint_and_enqueue(const bgupdate::ConstraintDeltaArgs& args,
                                       const bgupdate::Settings& settings) override;

private:
    bgupdate::Engine& engine_;
};

}  // namespace bgupdate_pg
