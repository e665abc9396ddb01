#include "output.h"
#include "terminal_text.h"

#include <fmt/core.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>

namespace bgtool {

bgupdate::Json cell_json(const Cell& c, bool keep_text) {
    if (!c) return bgupdate::Json();
    const std::string& s = *c;
    if (!keep_text && !s.empty()) {
        if (s == "t" || s == "true") return bgupdate::Json::boolean(true);
        if (s == "f" || s == "false") return bgupdate::Json::boolean(false);
        char* end = nullptr;
        long long i = std::strtoll(s.c_str(), &end, 10);
        if (*end == '\0') return bgupdate::Json::of(static_cast<int64_t>(i));
        double d = std::strtod(s.c_str(), &end);
        if (*end == '\0' && std::isfinite(d)) return bgupdate::Json::of_real(d);
        // Already JSON (a jsonb result)?
        if (s[0] == '{' || s[0] == '[') {
            try {
                return bgupdate::Json::parse(s, "a JSON result");
            } catch (const std::exception&) {
            }
        }
    }
    return bgupdate::Json::of(s);
}

bgupdate::Json rows_json(const Result& r, const std::vector<std::string>& text_columns) {
    bgupdate::Json arr = bgupdate::Json::array();
    for (auto& row : r.rows) {
        bgupdate::Json o = bgupdate::Json::object();
        for (size_t i = 0; i < r.columns.size(); ++i) {
            bool keep = std::find(text_columns.begin(), text_columns.end(), r.columns[i]) != text_columns.end();
            o.set(r.columns[i].c_str(), cell_json(row[i], keep));
        }
        arr.append(o);
    }
    return arr;
}

void print_json(const bgupdate::Json& j) {
    std::fputs(j.dump().c_str(), stdout);  // one line: pipe it through jq for people
    std::fputc('\n', stdout);
}

std::string table(const std::vector<std::vector<std::string>>& raw) {
    // Cells come from the database: escaped before a terminal sees them.
    std::vector<std::vector<std::string>> lines = raw;
    for (auto& l : lines)
        for (auto& cell : l) cell = for_terminal(cell);
    std::vector<size_t> w;
    for (auto& l : lines)
        for (size_t i = 0; i < l.size(); ++i) {
            if (w.size() <= i) w.push_back(0);
            w[i] = std::max(w[i], l[i].size());
        }
    std::string out;
    for (auto& l : lines) {
        std::string line;
        for (size_t i = 0; i < l.size(); ++i) {
            line += l[i];
            if (i + 1 < l.size()) line += std::string(w[i] - l[i].size() + 2, ' ');
        }
        while (!line.empty() && line.back() == ' ') line.pop_back();
        out += line + "\n";
    }
    return out;
}

std::string fmt_duration(double seconds) {
    if (!std::isfinite(seconds) || seconds < 0) return "-";
    long long s = std::llround(seconds);
    if (s >= 3600) return fmt::format("{}h{:02}m", s / 3600, s % 3600 / 60);
    if (s >= 60) return fmt::format("{}m{:02}s", s / 60, s % 60);
    if (seconds < 10 && seconds > 0) return fmt::format("{:.1f}s", seconds);
    return fmt::format("{}s", s);
}

std::string fmt_number(const Cell& c, int decimals) {
    if (!c) return "-";
    char* end = nullptr;
    double d = std::strtod(c->c_str(), &end);
    if (*end != '\0') return *c;
    return fmt::format("{:.{}f}", d, decimals);
}

std::string show(const Cell& c) { return c ? *c : "-"; }

std::optional<double> json_number(const bgupdate::Json& v) {
    if (auto i = v.as_integer()) return static_cast<double>(*i);
    if (v.is_null() || v.is_string() || v.is_boolean() || v.is_object() || v.is_array()) return std::nullopt;
    std::string text = v.dump();  // a real: its JSON text
    char* end = nullptr;
    double d = std::strtod(text.c_str(), &end);
    return *end == '\0' ? std::optional<double>(d) : std::nullopt;
}

}  // namespace bgtool
