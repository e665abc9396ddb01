// Checks at registration that only a partitioned table needs, so that an
// update is refused now rather than failing after hours of work.
#pragma once

#include "api_types.h"
#include "engine.h"

namespace bgupdate {

// PostgreSQL requires a unique index on a partitioned table to include every
// partition key column; the partitioned index build (handlers/
// partitioned_index.h) would otherwise build every partition's index and
// then fail when it creates the table's own.
void require_unique_index_fits_partitions(Engine& engine, const IndexUpdateArgs& a);

}  // namespace bgupdate
