// Runs one statement as a top-level command in its own transaction, the way
// a client's simple query would (CREATE INDEX CONCURRENTLY refuses to run
// through SPI). Worker only; no transaction may be open when called.
#pragma once

#include <string>

namespace bgupdate_pg {

// On failure `failure` gets the message and `sqlerrcode` the error code; the
// transaction is rolled back. search_path may be null (keep the current one).
void run_top_level(const char* sql, const char* search_path, std::string* failure, int* sqlerrcode);

}  // namespace bgupdate_pg
