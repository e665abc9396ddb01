// Conversions of engine values to text and numbers.
#include <cstdio>
#include <cstdlib>

#include "engine.h"

namespace bgupdate {

std::string Value::as_text() const {
    switch (kind) {
        case Kind::Null: return "";
        case Kind::Integer: return std::to_string(integer);
        case Kind::Real: {
            char buf[64];
            std::snprintf(buf, sizeof buf, "%.17g", real);
            return buf;
        }
        case Kind::Text: return text;
    }
    return "";
}

int64_t Value::as_int() const {
    switch (kind) {
        case Kind::Null: return 0;
        case Kind::Integer: return integer;
        case Kind::Real: return static_cast<int64_t>(real);
        case Kind::Text: return std::strtoll(text.c_str(), nullptr, 10);
    }
    return 0;
}

double Value::as_real() const {
    switch (kind) {
        case Kind::Null: return 0;
        case Kind::Integer: return static_cast<double>(integer);
        case Kind::Real: return real;
        case Kind::Text: return std::strtod(text.c_str(), nullptr);
    }
    return 0;
}

}  // namespace bgupdate
