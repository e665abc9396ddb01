// An update's owner's stored search_path, as every place that applies it
// must apply it (a batch, the health check's table resolution, CREATE INDEX
// CONCURRENTLY from the worker): with pg_temp moved to the end, so that a
// temporary table of whichever session runs it never stands in for the
// owner's table. However pg_temp is spelled (PG_TEMP, "pg_temp", pg_temp_3).
#pragma once

#include <string>

namespace bgupdate_pg {

std::string without_leading_temp_schema(const std::string& path);

}  // namespace bgupdate_pg
