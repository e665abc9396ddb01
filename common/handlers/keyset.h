// Keyset pagination: the next batch of a table in key order is the rows
// after the last key done, up to the batch_size-th key (never OFFSET from
// the start, so each batch costs the same however far along the scan is).
// Ranges count rows, not rows matching a handler's filter: a batch's cost
// then stays proportional to its size even where most rows are already done.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "../engine.h"

namespace bgupdate {

struct KeysetBatch {
    std::string range;         // WHERE predicate selecting the batch's rows
    std::optional<Row> upper;  // last key of the batch; nullopt: this is the final batch
};

// `what` names the progress bound in errors ("progress lower_bound of 'x'").
KeysetBatch next_keyset_batch(Engine& engine, const std::string& table, const std::vector<std::string>& keys,
                              const std::optional<Row>& lower, int64_t batch_size, const std::string& what);

}  // namespace bgupdate
