// The run command's display. On a terminal: one live bar per update (percent,
// rows/s, ETA), redrawn in place. Elsewhere: a plain line per update every
// `interval` seconds and whenever one finishes, so logs stay readable.
#pragma once

#include <chrono>
#include <cstdio>
#include <set>
#include <string>

#include "connection.h"

namespace bgtool {

class Progress {
public:
    enum class Mode { Bar, Plain, None };
    Progress(std::FILE* out, Mode mode, double interval_s);
    // Status rows as read by read_status(); `force` draws even if drawn recently.
    void show(const Result& status, bool force = false);
    // A line above the bars (they are redrawn below it).
    void message(const std::string& text);
    // Updates that completed during this run stay visible (as 100%).
    void finished(const std::string& update_name) { finished_.insert(update_name); }

private:
    std::string bar_line(const Result& s, size_t r) const;
    std::string plain_line(const Result& s, size_t r) const;
    void erase();

    std::FILE* out_;
    Mode mode_;
    double interval_s_;
    int drawn_ = 0;
    std::chrono::steady_clock::time_point last_{};
    bool drawn_once_ = false;
    std::set<std::string> finished_;
};

}  // namespace bgtool
