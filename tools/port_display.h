// What `bgupdate port` shows while it copies. On a terminal: a live bar for
// the table being copied and one for all tables (percent, rows/s, ETA),
// redrawn in place. Elsewhere: a plain line every `interval` seconds and one
// per table copied. Nothing with --json.
#pragma once

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <string>

namespace bgtool {

class PortDisplay {
public:
    enum class Mode { Bar, Plain, None };
    PortDisplay(std::FILE* out, Mode mode, double interval_s, int64_t total_rows, int64_t tables);
    void table_started(const std::string& name, int64_t done, int64_t total);
    // `copied_now`: rows copied by this run (for the rate).
    void rows(int64_t table_done, int64_t all_done, int64_t copied_now);
    void table_finished(int64_t all_done);
    void message(const std::string& text);

private:
    void draw(bool force);
    void erase();
    std::string bar(double fraction) const;
    std::FILE* out_;
    Mode mode_;
    double interval_s_;
    int64_t total_rows_, tables_, tables_done_ = 0;
    std::string table_;
    int64_t table_done_ = 0, table_total_ = 0, all_done_ = 0, copied_now_ = 0;
    std::chrono::steady_clock::time_point start_, last_{};
    int drawn_ = 0;
};

}  // namespace bgtool
