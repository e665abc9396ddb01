#include "terminal_text.h"

#include <fmt/core.h>

namespace bgtool {

namespace {

// Code points a terminal or a text renderer acts on rather than shows.
bool is_control(unsigned cp) {
    return cp < 0x20 || cp == 0x7f || (cp >= 0x80 && cp <= 0x9f) ||  // C0, DEL, C1
           cp == 0x061c || cp == 0x200e || cp == 0x200f ||            // bidi marks
           (cp >= 0x2028 && cp <= 0x202e) ||                          // line/paragraph separators, bidi embeddings
           (cp >= 0x2066 && cp <= 0x2069);                            // bidi isolates
}

// Length of the UTF-8 sequence at `i` and its code point; 0 when it is not valid UTF-8.
size_t decode(const std::string& s, size_t i, unsigned* cp) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    size_t n = c < 0x80 ? 1 : (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xe ? 3 : (c >> 3) == 0x1e ? 4 : 0;
    if (n == 0 || i + n > s.size()) return 0;
    unsigned v = n == 1 ? c : c & (0x7f >> n);
    for (size_t k = 1; k < n; ++k) {
        unsigned char d = static_cast<unsigned char>(s[i + k]);
        if ((d & 0xc0) != 0x80) return 0;
        v = (v << 6) | (d & 0x3f);
    }
    static const unsigned kMin[] = {0, 0, 0x80, 0x800, 0x10000};
    if (v < kMin[n] || v > 0x10ffff || (v >= 0xd800 && v <= 0xdfff)) return 0;  // overlong, out of range, surrogate
    *cp = v;
    return n;
}

}  // namespace

std::string for_terminal(const std::string& text) {
    std::string out;
    out.reserve(text.size());
    for (size_t i = 0; i < text.size();) {
        unsigned cp = 0;
        size_t n = decode(text, i, &cp);
        if (n == 0) {
            out += fmt::format("\\x{:02x}", static_cast<unsigned char>(text[i]));
            ++i;
            continue;
        }
        if (cp == '\\') out += "\\\\";
        else if (cp == '\n') out += "\\n";
        else if (cp == '\r') out += "\\r";
        else if (cp == '\t') out += "\\t";
        else if (is_control(cp)) out += cp < 0x80 ? fmt::format("\\x{:02x}", cp) : fmt::format("\\u{:04x}", cp);
        else out.append(text, i, n);
        i += n;
    }
    return out;
}

}  // namespace bgtool
