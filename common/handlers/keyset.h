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

// What a scan covers: a table (or one partition of it, read as the table:
// partitions.h partition_as_parent) and, when the update's key range is
// fixed, its first and last key.
struct KeysetScope {
    std::string from;        // a FROM item, quoted
    std::optional<Row> min;  // first key (inclusive), until the scan has started
    std::optional<Row> max;  // last key (inclusive); nullopt: every row, new ones too
};

struct KeysetBatch {
    // WHERE predicate selecting the batch's rows; its key values are
    // placeholders 1..n (Dialect::placeholder) for `params`, so a statement
    // around it must bind them and have no placeholders of its own before.
    std::string range;
    std::vector<Value> params;
    std::optional<Row> upper;  // last key of the batch; nullopt: this is the final batch
};

// `what` names the progress bound in errors ("progress lower_bound of 'x'").
KeysetBatch next_keyset_batch(Engine& engine, const KeysetScope& scope, const std::vector<std::string>& keys,
                              const std::optional<Row>& lower, int64_t batch_size, const std::string& what);

// The predicate "key >= min AND key <= max" of a scope's fixed range ("TRUE" when open).
std::string keyset_range_predicate(const Dialect& d, const KeysetScope& scope, const std::vector<std::string>& keys);

// The largest key of a table now (nullopt when it is empty): where a fixed
// range ends when it is captured.
std::optional<Row> largest_key(Engine& engine, const std::string& from, const std::vector<std::string>& keys);

}  // namespace bgupdate
