// An index on a partitioned table, built the way PostgreSQL allows without
// blocking writes (it refuses CREATE INDEX CONCURRENTLY on a partitioned
// table): CREATE INDEX CONCURRENTLY on each leaf partition, then CREATE INDEX
// ... ON ONLY each partitioned table (a catalog entry, invalid at first),
// then ALTER INDEX ... ATTACH PARTITION of each partition's index, deepest
// first; the table's index turns valid once every partition's is attached.
// One leaf is built per batch, and up to 20 partitions attached per batch,
// with the progress recording each partition's step
// ("partitions": {"schema.leaf": "built" | "attached"}). Every step is read
// back from the catalog before it is taken, so the update resumes after a
// crash at any point: a leaf index left INVALID by an interrupted build is
// dropped and built again, one already attached is skipped. A partition
// created after the table's index exists gets its index from PostgreSQL
// (CREATE TABLE ... PARTITION OF, ATTACH PARTITION), attached already.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "handler.h"

namespace bgupdate {

struct IndexDefinition {
    std::string index, table;
    std::vector<std::string> columns;
    std::optional<std::string> where;
    std::optional<std::string> replaces;
    bool unique = false;
};

// One batch of the build; `tree` is the table's partition tree (not empty).
int64_t build_partitioned_index(BatchContext& ctx, const IndexDefinition& def, const std::vector<PartitionNode>& tree);

// The name of a partition's index: "<index>_<partition>", shortened to
// PostgreSQL's 63 bytes with a hash of the whole when longer.
std::string partition_index_name(const std::string& index, const std::string& partition);

}  // namespace bgupdate
