// Refuses SQL text that is not exactly one statement (PostgreSQL's parser
// decides). Called inside pg_guard before SPI or a top-level portal runs
// text the core composed as one statement: SPI_execute would run them all.
#pragma once

namespace bgupdate_pg {

// ereport(ERROR) unless `sql` parses as exactly one statement.
void require_one_statement(const char* sql);

}  // namespace bgupdate_pg
