// Checks for the command line that speak to people: CLI11's own ranges
// print their bounds as "0.000000 to 1.797693e+308" in full, and the
// unknown-subcommand case reads "A subcommand is required".
#pragma once

#include <CLI/CLI.hpp>

#include <string>
#include <vector>

namespace bgtool {

// A number of seconds greater than 0 (--interval).
CLI::Validator positive_seconds();
// A number of seconds, 0 or more (--max-seconds, --timeout).
CLI::Validator non_negative_seconds();
// A schema version: a whole number from 1 up (--target, --code-version, --compat-version).
CLI::Validator schema_version();

// The message for a first argument that names no command, with the nearest
// command when one is close; "" when `word` is a command (or an option).
std::string unknown_command_message(const std::string& word, const std::vector<std::string>& commands);

}  // namespace bgtool
