// PostgreSQL's queue adoption (common/queue_adoption.h): the queue is
// bgupdate.background_updates; a Synapse table of that name on the
// search_path is merged into it and replaced by a view over it.
#pragma once

#include "engine.h"
#include "queue_adoption.h"

namespace bgupdate_pg {

class ViewQueueAdoption final : public bgupdate::QueueAdoption {
public:
    explicit ViewQueueAdoption(bgupdate::Engine& engine) : engine_(engine) {}
    bgupdate::AdoptionResult adopt_queue() override;
    void set_queue_aside_for_snapshot() override;
    bgupdate::AdoptionResult take_queue_back_after_snapshot() override;

private:
    bgupdate::Engine& engine_;
};

}  // namespace bgupdate_pg
