// SQLite's queue adoption (common/queue_adoption.h): Synapse's
// background_updates table is the queue itself; a full-schema snapshot
// that creates it again gets the queue set aside and merged back.
#pragma once

#include "engine.h"
#include "queue_adoption.h"

namespace bgupdate_sqlite {

class SameTableQueueAdoption final : public bgupdate::QueueAdoption {
public:
    explicit SameTableQueueAdoption(bgupdate::Engine& engine) : engine_(engine) {}
    bgupdate::AdoptionResult adopt_queue() override;
    void set_queue_aside_for_snapshot() override;
    bgupdate::AdoptionResult take_queue_back_after_snapshot() override;

private:
    bgupdate::Engine& engine_;
};

}  // namespace bgupdate_sqlite
