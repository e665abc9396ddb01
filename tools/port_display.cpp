#include "port_display.h"

#include <fmt/core.h>

#include <algorithm>

#include "output.h"

namespace bgtool {

PortDisplay::PortDisplay(std::FILE* out, Mode mode, double interval_s, int64_t total_rows, int64_t tables)
    : out_(out), mode_(mode), interval_s_(interval_s), total_rows_(total_rows), tables_(tables),
      start_(std::chrono::steady_clock::now()) {}

std::string PortDisplay::bar(double fraction) const {
    const int width = 24;
    int filled = std::clamp(static_cast<int>(fraction * width + 0.5), 0, width);
    return "[" + std::string(filled, '#') + std::string(width - filled, '-') + "]";
}

void PortDisplay::erase() {
    if (mode_ == Mode::Bar && drawn_ > 0) {
        std::fprintf(out_, "\x1b[%dF\x1b[J", drawn_);
        drawn_ = 0;
    }
}

void PortDisplay::draw(bool force) {
    if (mode_ == Mode::None) return;
    auto now = std::chrono::steady_clock::now();
    double since = std::chrono::duration<double>(now - last_).count();
    if (!force && since < (mode_ == Mode::Bar ? 0.2 : interval_s_)) return;
    last_ = now;
    double elapsed = std::chrono::duration<double>(now - start_).count();
    double rate = elapsed > 0 ? copied_now_ / elapsed : 0;
    auto eta = [&](int64_t left) { return rate > 0 ? fmt_duration(left / rate) : std::string("-"); };
    double tf = table_total_ ? static_cast<double>(table_done_) / table_total_ : 1.0;
    double af = total_rows_ ? static_cast<double>(all_done_) / total_rows_ : 1.0;
    if (mode_ == Mode::Bar) {
        erase();
        std::fprintf(out_, "%s\n", fmt::format("{:<28} {} {:>6.1f}%  {:>10}/{:<10} rows  {:>8.0f} rows/s  ETA {:>6}",
                                               table_.substr(0, 28), bar(tf), tf * 100, table_done_, table_total_, rate,
                                               eta(table_total_ - table_done_)).c_str());
        std::fprintf(out_, "%s\n", fmt::format("{:<28} {} {:>6.1f}%  {:>10}/{:<10} rows  {:>8.0f} rows/s  ETA {:>6}",
                                               fmt::format("all tables ({}/{})", tables_done_, tables_), bar(af),
                                               af * 100, all_done_, total_rows_, rate, eta(total_rows_ - all_done_))
                                       .c_str());
        drawn_ = 2;
    } else {
        std::fprintf(out_, "%s\n", fmt::format("copying {}: {}/{} rows ({:.1f}%); all tables {}/{} ({:.1f}%), {:.0f} rows/s",
                                               table_, table_done_, table_total_, tf * 100, all_done_, total_rows_,
                                               af * 100, rate).c_str());
    }
    std::fflush(out_);
}

void PortDisplay::table_started(const std::string& name, int64_t done, int64_t total) {
    table_ = for_terminal(name);  // a table name comes from the source file
    table_done_ = done;
    table_total_ = total;
    draw(true);
}

void PortDisplay::rows(int64_t table_done, int64_t all_done, int64_t copied_now) {
    table_done_ = table_done;
    all_done_ = all_done;
    copied_now_ = copied_now;
    draw(false);
}

void PortDisplay::table_finished(int64_t all_done) {
    ++tables_done_;
    all_done_ = all_done;
    table_done_ = table_total_;
    if (mode_ == Mode::Plain) {
        std::fprintf(out_, "copied %s: %lld rows\n", table_.c_str(), static_cast<long long>(table_done_));
        std::fflush(out_);
    } else {
        draw(true);
    }
}

void PortDisplay::message(const std::string& text) {
    if (mode_ == Mode::None) return;
    erase();
    std::fprintf(out_, "%s\n", text.c_str());
    std::fflush(out_);
}

}  // namespace bgtool
