// Output helpers: JSON from result rows, aligned text tables, durations.
#pragma once

#include <string>
#include <vector>

#include "connection.h"
#include "json.h"
#include "terminal_text.h"

namespace bgtool {

// A cell as JSON: NULL -> null; columns named in `text_columns` stay strings;
// others become numbers (or booleans for t/f) when they parse as such.
bgupdate::Json cell_json(const Cell& c, bool keep_text);
// Each row of `r` as a JSON object.
bgupdate::Json rows_json(const Result& r, const std::vector<std::string>& text_columns);
// Prints JSON to stdout (one document, pretty enough for people too).
void print_json(const bgupdate::Json& j);

// Left-aligned columns, two spaces apart; every cell escaped for a terminal.
std::string table(const std::vector<std::vector<std::string>>& lines);

std::string fmt_duration(double seconds);  // 42s, 3m05s, 2h01m
std::string fmt_number(const Cell& c, int decimals);  // "-" for NULL
std::string show(const Cell& c);  // "-" for NULL
// A JSON number (integer or real) as a double; nullopt for anything else.
std::optional<double> json_number(const bgupdate::Json& v);

}  // namespace bgtool
