#include "args.h"

#include <cctype>
#include <cerrno>
#include <cmath>
#include <cstdlib>

#include "errors.h"
#include "json.h"

using bgupdate::bad_input;

namespace bgupdate_sqlite {

namespace {

std::string value_text(sqlite3_value* v) {
    const unsigned char* t = sqlite3_value_text(v);
    int n = sqlite3_value_bytes(v);
    return t ? std::string(reinterpret_cast<const char*>(t), static_cast<size_t>(n)) : std::string();
}

}  // namespace

bool Args::has(int i) const {
    return i < argc_ && sqlite3_value_type(argv_[i]) != SQLITE_NULL;
}

sqlite3_value* Args::at(int i, const char* name) const {
    if (!has(i)) bad_input(std::string("argument ") + name + " must not be NULL");
    return argv_[i];
}

std::string Args::text(int i, const char* name) const {
    return value_text(at(i, name));
}

int64_t Args::integer(int i, const char* name) const {
    sqlite3_value* v = at(i, name);
    switch (sqlite3_value_type(v)) {
        case SQLITE_INTEGER:
            return sqlite3_value_int64(v);
        case SQLITE_FLOAT: {
            double d = sqlite3_value_double(v);
            if (std::isfinite(d) && d == std::floor(d) && std::fabs(d) < 9.2e18) return static_cast<int64_t>(d);
            break;
        }
        case SQLITE_TEXT: {
            std::string s = value_text(v);
            errno = 0;
            char* end = nullptr;
            long long x = std::strtoll(s.c_str(), &end, 10);
            if (!s.empty() && end && *end == '\0' && errno == 0) return x;
            break;
        }
        default:
            break;
    }
    bad_input(std::string("argument ") + name + " must be an integer, got '" + value_text(v) + "'");
}

int64_t Args::non_negative(int i, const char* name) const {
    int64_t x = integer(i, name);
    if (x < 0) bad_input(std::string("argument ") + name + " must not be negative, got " + std::to_string(x));
    return x;
}

bool Args::boolean(int i, const char* name) const {
    sqlite3_value* v = at(i, name);
    if (sqlite3_value_type(v) == SQLITE_TEXT) {
        std::string s = value_text(v);
        for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        if (s == "true" || s == "on" || s == "yes" || s == "1") return true;
        if (s == "false" || s == "off" || s == "no" || s == "0") return false;
        bad_input(std::string("argument ") + name + " must be a boolean (1/0, true/false), got '" + value_text(v) +
                  "'");
    }
    return integer(i, name) != 0;
}

std::vector<std::string> Args::string_array(int i, const char* name) const {
    std::string s = text(i, name);
    bgupdate::Json root;
    try {
        root = bgupdate::Json::parse(s, "argument " + std::string(name));
    } catch (const bgupdate::Error& e) {
        bad_input(std::string("argument ") + name + " must be a JSON array of strings: " + e.what());
    }
    std::vector<std::string> out;
    bool ok = root.is_array();
    for (size_t idx = 0; ok && idx < root.size(); ++idx) {
        auto el = root.element(idx).as_string();
        if (el) out.push_back(*el);
        else ok = false;
    }
    if (!ok) bad_input(std::string("argument ") + name + " must be a JSON array of strings, got '" + s + "'");
    return out;
}

std::optional<std::string> Args::opt_text(int i, const char* name) const {
    if (!has(i)) return std::nullopt;
    return text(i, name);
}

int64_t Args::opt_integer(int i, const char* name, int64_t dflt) const {
    return has(i) ? integer(i, name) : dflt;
}

bool Args::opt_boolean(int i, const char* name, bool dflt) const {
    return has(i) ? boolean(i, name) : dflt;
}

}  // namespace bgupdate_sqlite
