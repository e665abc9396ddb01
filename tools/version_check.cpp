#include "version_check.h"

#include <fmt/core.h>

#include "version.h"

namespace bgtool {

void warn_if_other_version(const std::string& what, const std::optional<std::string>& their_version,
                           const std::string& hint) {
    const std::string mine = bgupdate::version();
    if (their_version && *their_version == mine) return;
    fmt::print(stderr, "bgupdate: warning: {} is version {}, this tool is version {}{}\n", what,
               their_version ? *their_version : "(unknown: older than 1.2)", mine, hint.empty() ? "" : " (" + hint + ")");
}

}  // namespace bgtool
