#include "partitioned_registration.h"

#include <algorithm>

#include "dialect.h"
#include "errors.h"

namespace bgupdate {

void require_unique_index_fits_partitions(Engine& engine, const IndexUpdateArgs& a) {
    std::string sql = engine.dialect().partition_key_columns_sql(a.table);
    if (sql.empty()) return;
    for (auto& r : engine.query(sql)) {
        if (r[0].is_null())
            bad_input("unique index " + a.index_name + " cannot be built on partitioned table '" + a.table +
                      "': it is partitioned by an expression, and a unique index must include every partition "
                      "key column");
        std::string col = r[0].as_text();
        if (std::find(a.columns.begin(), a.columns.end(), col) == a.columns.end())
            bad_input("unique index " + a.index_name + " on partitioned table '" + a.table +
                      "' must include its partition key column '" + col +
                      "' (PostgreSQL enforces uniqueness partition by partition)");
    }
}

}  // namespace bgupdate
