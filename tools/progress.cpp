#include "progress.h"

#include <fmt/core.h>

#include <algorithm>
#include <cstdlib>

#include "output.h"
#include "terminal_text.h"

namespace bgtool {
namespace {

std::optional<double> number(const Cell& c) {
    if (!c) return std::nullopt;
    char* end = nullptr;
    double d = std::strtod(c->c_str(), &end);
    return *end == '\0' ? std::optional<double>(d) : std::nullopt;
}

std::string rate(const Cell& items_per_ms) {
    auto r = number(items_per_ms);
    return r ? fmt::format("{:.0f} rows/s", *r * 1000) : "- rows/s";
}

}  // namespace

Progress::Progress(std::FILE* out, Mode mode, double interval_s) : out_(out), mode_(mode), interval_s_(interval_s) {}

std::string Progress::bar_line(const Result& s, size_t r) const {
    std::string name = for_terminal(bgtool::show(s.get(r, "update_name"))), state = bgtool::show(s.get(r, "state"));
    std::optional<double> pct = number(s.get(r, "percent"));
    if (state == "complete") pct = 100.0;
    const int width = 24;
    int filled = pct ? std::clamp(static_cast<int>(*pct / 100.0 * width + 0.5), 0, width) : 0;
    std::string bar = std::string(filled, '#') + std::string(width - filled, '-');
    auto eta = number(s.get(r, "eta_seconds"));
    return fmt::format("{:<28} [{}] {:>6}  {:>13}  ETA {:>6}  {}", name.substr(0, 28), bar,
                       pct ? fmt::format("{:.1f}%", *pct) : "-", rate(s.get(r, "avg_items_per_ms")),
                       state == "complete" ? "done" : (eta ? fmt_duration(*eta) : "-"), for_terminal(state));
}

std::string Progress::plain_line(const Result& s, size_t r) const {
    std::string state = bgtool::show(s.get(r, "state"));
    auto eta = number(s.get(r, "eta_seconds"));
    return fmt::format("{}: {} {} items {}, {}, eta {}", for_terminal(bgtool::show(s.get(r, "update_name"))),
                       for_terminal(state),
                       fmt_number(s.get(r, "percent"), 1) + "%", bgtool::show(s.get(r, "items_done")),
                       rate(s.get(r, "avg_items_per_ms")), eta && state != "complete" ? fmt_duration(*eta) : "-");
}

void Progress::erase() {
    if (mode_ == Mode::Bar && drawn_ > 0) {
        std::fprintf(out_, "\x1b[%dF\x1b[J", drawn_);  // to the first bar, clear to the end
        drawn_ = 0;
    }
}

void Progress::show(const Result& s, bool force) {
    if (mode_ == Mode::None) return;
    auto now = std::chrono::steady_clock::now();
    double since = std::chrono::duration<double>(now - last_).count();
    double every = mode_ == Mode::Bar ? 0.2 : interval_s_;
    if (!force && drawn_once_ && since < every) return;
    last_ = now;
    drawn_once_ = true;
    std::vector<std::string> lines;
    for (size_t r = 0; r < s.rows.size(); ++r) {
        std::string name = bgtool::show(s.get(r, "update_name"));
        if (bgtool::show(s.get(r, "state")) == "complete" && !finished_.count(name)) continue;
        lines.push_back(mode_ == Mode::Bar ? bar_line(s, r) : plain_line(s, r));
    }
    if (lines.empty()) {
        if (mode_ == Mode::Bar) lines.push_back("(no background updates)");
        else return;
    }
    erase();
    for (auto& l : lines) std::fprintf(out_, "%s\n", l.c_str());
    std::fflush(out_);
    if (mode_ == Mode::Bar) drawn_ = static_cast<int>(lines.size());
}

void Progress::message(const std::string& text) {
    if (mode_ == Mode::None) return;
    erase();
    std::fprintf(out_, "%s\n", for_terminal(text).c_str());  // names and errors from the database
    std::fflush(out_);
    drawn_once_ = false;  // redraw the bars below at the next show()
}

}  // namespace bgtool
