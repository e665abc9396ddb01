// Reading SQL function arguments into C++ values, with errors that name the
// argument (NULL where not allowed, wrong type, negative, bad JSON array).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "sqlite_api.h"

namespace bgupdate_sqlite {

class Args {
public:
    Args(int argc, sqlite3_value** argv) : argc_(argc), argv_(argv) {}

    int count() const { return argc_; }
    // Present and not NULL.
    bool has(int i) const;

    // Required values: a NULL (or missing) argument is an error naming `name`.
    std::string text(int i, const char* name) const;
    int64_t integer(int i, const char* name) const;
    int64_t non_negative(int i, const char* name) const;
    bool boolean(int i, const char* name) const;
    // A JSON array of strings, e.g. '["a", "b"]'.
    std::vector<std::string> string_array(int i, const char* name) const;

    // Optional values: missing or NULL -> nullopt / the default.
    std::optional<std::string> opt_text(int i, const char* name) const;
    int64_t opt_integer(int i, const char* name, int64_t dflt) const;
    bool opt_boolean(int i, const char* name, bool dflt) const;

private:
    sqlite3_value* at(int i, const char* name) const;  // non-NULL or throws
    int argc_;
    sqlite3_value** argv_;
};

}  // namespace bgupdate_sqlite
