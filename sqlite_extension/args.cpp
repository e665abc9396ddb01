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

Args::Declared Args::declared(const char* name) const {
    int pos = fn_.position(name);
    if (pos < 0)
        throw bgupdate::Error(bgupdate::ErrorKind::Failure, std::string("internal error: bgupdate_") + fn_.name +
                                                                " declares no argument '" + name + "'");
    const bgupdate::sql::Arg& a = fn_.args[pos];
    return Declared{pos, a.name_on(bgupdate::sql::kSqlite), !a.may_omit_on(bgupdate::sql::kSqlite)};
}

bool Args::has(const char* name) const { return present(declared(name).pos); }

sqlite3_value* Args::at(const Declared& d) const {
    if (!present(d.pos)) bad_input(std::string("argument ") + d.name + " must not be NULL");
    return argv_[d.pos];
}

std::string Args::text(const char* name) const { return value_text(at(declared(name))); }

int64_t Args::integer(const char* name) const {
    Declared d = declared(name);
    sqlite3_value* v = at(d);
    switch (sqlite3_value_type(v)) {
        case SQLITE_INTEGER:
            return sqlite3_value_int64(v);
        case SQLITE_FLOAT: {
            double x = sqlite3_value_double(v);
            if (std::isfinite(x) && x == std::floor(x) && std::fabs(x) < 9.2e18) return static_cast<int64_t>(x);
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
    bad_input(std::string("argument ") + d.name + " must be an integer, got '" + value_text(v) + "'");
}

int64_t Args::non_negative(const char* name) const {
    int64_t x = integer(name);
    if (x < 0)
        bad_input(std::string("argument ") + declared(name).name + " must not be negative, got " + std::to_string(x));
    return x;
}

bool Args::boolean(const char* name) const {
    Declared d = declared(name);
    sqlite3_value* v = at(d);
    if (sqlite3_value_type(v) == SQLITE_TEXT) {
        std::string s = value_text(v);
        for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        if (s == "true" || s == "on" || s == "yes" || s == "1") return true;
        if (s == "false" || s == "off" || s == "no" || s == "0") return false;
        bad_input(std::string("argument ") + d.name + " must be a boolean (1/0, true/false), got '" + value_text(v) +
                  "'");
    }
    return integer(name) != 0;
}

std::vector<std::string> Args::string_list(const char* name) const {
    std::string s = text(name);
    const char* shown = declared(name).name;
    bgupdate::Json root;
    try {
        root = bgupdate::Json::parse(s, "argument " + std::string(shown));
    } catch (const bgupdate::Error& e) {
        bad_input(std::string("argument ") + shown + " must be a JSON array of strings: " + e.what());
    }
    std::vector<std::string> out;
    bool ok = root.is_array();
    for (size_t idx = 0; ok && idx < root.size(); ++idx) {
        auto el = root.element(idx).as_string();
        if (el) out.push_back(*el);
        else ok = false;
    }
    if (!ok) bad_input(std::string("argument ") + shown + " must be a JSON array of strings, got '" + s + "'");
    return out;
}

std::optional<std::string> Args::opt_text(const char* name) const {
    Declared d = declared(name);
    if (!d.required && !present(d.pos)) return std::nullopt;
    return value_text(at(d));
}

int64_t Args::opt_integer(const char* name, int64_t dflt) const { return has(name) ? integer(name) : dflt; }

bool Args::opt_boolean(const char* name, bool dflt) const { return has(name) ? boolean(name) : dflt; }

}  // namespace bgupdate_sqlite
