// The tool, the SQLite extension and the PostgreSQL extension come from one
// VERSION file; a database whose bgupdate is another version still works as
// far as it can, with a warning on stderr (the exit status is not changed).
#pragma once

#include <optional>
#include <string>

namespace bgtool {

// Prints a warning when `their_version` (nullopt: it does not say) is not the
// tool's own. `what` names the other side, e.g. "the SQLite extension /x.so".
void warn_if_other_version(const std::string& what, const std::optional<std::string>& their_version,
                           const std::string& hint);

}  // namespace bgtool
