#include "cli_checks.h"

#include <fmt/core.h>
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>

#include "terminal_text.h"

namespace bgtool {

namespace {

bool parse_number(const std::string& s, double* out) {
    if (s.empty()) return false;
    char* end = nullptr;
    *out = std::strtod(s.c_str(), &end);
    return *end == '\0' && std::isfinite(*out);
}

size_t edit_distance(const std::string& a, const std::string& b) {
    std::vector<size_t> prev(b.size() + 1), cur(b.size() + 1);
    for (size_t j = 0; j <= b.size(); ++j) prev[j] = j;
    for (size_t i = 1; i <= a.size(); ++i) {
        cur[0] = i;
        for (size_t j = 1; j <= b.size(); ++j)
            cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1)});
        std::swap(prev, cur);
    }
    return prev[b.size()];
}

}  // namespace

CLI::Validator positive_seconds() {
    return CLI::Validator(
        [](std::string& s) -> std::string {
            double d = 0;
            if (!parse_number(s, &d) || d <= 0)
                return fmt::format("must be a number of seconds greater than 0 (such as 0.5 or 10), got '{}'",
                                   for_terminal(s));
            return "";
        },
        "SECONDS>0");
}

CLI::Validator non_negative_seconds() {
    return CLI::Validator(
        [](std::string& s) -> std::string {
            double d = 0;
            if (!parse_number(s, &d) || d < 0)
                return fmt::format("must be a number of seconds, 0 or more, got '{}'", for_terminal(s));
            return "";
        },
        "SECONDS>=0");
}

CLI::Validator schema_version() {
    return CLI::Validator(
        [](std::string& s) -> std::string {
            char* end = nullptr;
            long long v = s.empty() ? 0 : std::strtoll(s.c_str(), &end, 10);
            if (s.empty() || *end != '\0' || v < 1)
                return fmt::format("must be a schema version, a whole number from 1 up, got '{}'", for_terminal(s));
            return "";
        },
        "VERSION>=1");
}

std::string unknown_command_message(const std::string& word, const std::vector<std::string>& commands) {
    if (word.empty() || word[0] == '-' || std::find(commands.begin(), commands.end(), word) != commands.end()) return "";
    std::string nearest;
    size_t best = 3;  // only suggest a close one
    for (auto& c : commands) {
        size_t d = edit_distance(word, c);
        if (d < best) best = d, nearest = c;
    }
    return fmt::format("unknown command '{}'{}; the commands are: {}", for_terminal(word),
                       nearest.empty() ? "" : " (did you mean '" + nearest + "'?)", fmt::join(commands, ", "));
}

}  // namespace bgtool
