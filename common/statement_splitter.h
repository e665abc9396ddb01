// Splits a schema delta file into single statements. Understands `--` and
// `/* */` comments, '…' strings, "…" identifiers, PostgreSQL $tag$ dollar
// quoting and SQLite CREATE TRIGGER … BEGIN … END; bodies.
#pragma once

#include <string>
#include <vector>

#include "dialect.h"

namespace bgupdate {

// Statements without their terminating semicolon, trimmed; empty and
// comment-only statements are dropped. Throws BadInput on an unterminated
// string, identifier, comment or dollar quote (naming the line it began on).
std::vector<std::string> split_statements(const std::string& sql, Dialect::Kind kind);

}  // namespace bgupdate
