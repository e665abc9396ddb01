#include "copy_values.h"

#include <cmath>
#include <cstdio>
#include <cstdlib>

#include "errors.h"

namespace bgupdate {
namespace {

std::string escaped(const std::string& s) {
    std::string out;
    out.reserve(s.size());
    for (char c : s) {
        switch (c) {
            case '\\': out += "\\\\"; break;
            case '\n': out += "\\n"; break;
            case '\r': out += "\\r"; break;
            case '\t': out += "\\t"; break;
            default: out += c;
        }
    }
    return out;
}

std::string hex_bytea(const std::string& bytes) {
    static const char* digits = "0123456789abcdef";
    std::string out = "\\\\x";  // \x, with COPY's backslash doubled
    for (unsigned char c : bytes) {
        out += digits[c >> 4];
        out += digits[c & 15];
    }
    return out;
}

std::string lower(std::string s) {
    for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return s;
}

// Text for a message: control bytes shown as \xNN (a NUL would end the message).
std::string printable(const std::string& s) {
    std::string out;
    for (unsigned char c : s) {
        if (c >= 0x20 && c != 0x7f) {
            out += static_cast<char>(c);
        } else {
            char buf[8];
            std::snprintf(buf, sizeof buf, "\\x%02x", c);
            out += buf;
        }
    }
    return out;
}

std::string describe(const SourceValue& v) {
    switch (v.kind) {
        case SourceValue::Kind::Null: return "NULL";
        case SourceValue::Kind::Integer: return "integer " + std::to_string(v.integer);
        case SourceValue::Kind::Real: return "real " + exact_real_text(v.real);
        case SourceValue::Kind::Text:
            return "text '" + printable(v.bytes.size() > 40 ? v.bytes.substr(0, 40) : v.bytes) +
                   (v.bytes.size() > 40 ? "…'" : "'");
        case SourceValue::Kind::Blob: return "a blob of " + std::to_string(v.bytes.size()) + " bytes";
    }
    return "?";
}

[[noreturn]] void cannot(const SourceValue& v, TargetType t, const std::string& why) {
    bad_input("cannot store " + describe(v) + " in a " + target_type_name(t) + " column: " + why);
}

// Text as it is, unless PostgreSQL text cannot hold it.
std::string as_text(const SourceValue& v, TargetType t, const std::string& s) {
    if (s.find('\0') != std::string::npos) cannot(v, t, "PostgreSQL text cannot hold a NUL byte");
    return escaped(s);
}

}  // namespace

TargetType target_type_of(const std::string& type_name, char category) {
    if (type_name == "bool") return TargetType::Boolean;
    if (type_name == "bytea") return TargetType::Bytea;
    if (type_name == "int2" || type_name == "int4" || type_name == "int8") return TargetType::Integer;
    if (type_name == "float4" || type_name == "float8") return TargetType::Float;
    if (type_name == "numeric" || category == 'N') return TargetType::Numeric;
    if (type_name == "json" || type_name == "jsonb") return TargetType::Json;
    return TargetType::Text;  // text, varchar, arrays, dates…: PostgreSQL parses the text
}

const char* target_type_name(TargetType t) {
    switch (t) {
        case TargetType::Boolean: return "boolean";
        case TargetType::Bytea: return "bytea";
        case TargetType::Integer: return "integer";
        case TargetType::Float: return "floating-point";
        case TargetType::Numeric: return "numeric";
        case TargetType::Json: return "json";
        case TargetType::Text: return "text";
    }
    return "?";
}

std::string exact_real_text(double v) {
    if (std::isnan(v)) return "NaN";
    if (std::isinf(v)) return v > 0 ? "Infinity" : "-Infinity";
    char buf[40];
    for (int digits = 15; digits <= 17; ++digits) {
        std::snprintf(buf, sizeof buf, "%.*g", digits, v);
        if (std::strtod(buf, nullptr) == v) break;
    }
    return buf;
}

std::string copy_field(const SourceValue& v, TargetType t) {
    using K = SourceValue::Kind;
    if (v.kind == K::Null) return "\\N";
    switch (t) {
        case TargetType::Boolean:
            // SQLite has no booleans: applications store 0/1 (any non-zero is true, as SQLite reads it).
            if (v.kind == K::Integer) return v.integer != 0 ? "t" : "f";
            if (v.kind == K::Real) return v.real != 0 ? "t" : "f";
            if (v.kind == K::Text) {
                std::string s = lower(v.bytes);
                if (s == "1" || s == "t" || s == "true" || s == "y" || s == "yes" || s == "on") return "t";
                if (s == "0" || s == "f" || s == "false" || s == "n" || s == "no" || s == "off") return "f";
            }
            cannot(v, t, "a boolean is 0 or 1 (or true/false)");
        case TargetType::Bytea:
            if (v.kind == K::Blob || v.kind == K::Text) return hex_bytea(v.bytes);
            return hex_bytea(v.kind == K::Integer ? std::to_string(v.integer) : exact_real_text(v.real));
        case TargetType::Integer:
            if (v.kind == K::Integer) return std::to_string(v.integer);
            if (v.kind == K::Real) {
                if (std::trunc(v.real) == v.real && std::fabs(v.real) < 9.2e18)
                    return std::to_string(static_cast<int64_t>(v.real));
                cannot(v, t, "it has a fractional part");
            }
            if (v.kind == K::Text) return as_text(v, t, v.bytes);  // PostgreSQL parses it (and names a bad one)
            cannot(v, t, "not a number");
        case TargetType::Float:
        case TargetType::Numeric:
            if (v.kind == K::Integer) return std::to_string(v.integer);
            if (v.kind == K::Real) return exact_real_text(v.real);
            if (v.kind == K::Text) return as_text(v, t, v.bytes);
            cannot(v, t, "not a number");
        case TargetType::Json:
        case TargetType::Text:
            if (v.kind == K::Integer) return std::to_string(v.integer);
            if (v.kind == K::Real) return exact_real_text(v.real);
            return as_text(v, t, v.bytes);
    }
    return "\\N";
}

}  // namespace bgupdate
