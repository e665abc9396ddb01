// Reading SQL function arguments into C++ values, by the names the SQL
// surface declares (sql_surface.h), with errors that name the argument (NULL
// where not allowed, wrong type, negative, bad JSON array).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "sql_surface.h"
#include "sqlite_api.h"

namespace bgupdate_sqlite {

class Args {
public:
    Args(const bgupdate::sql::Function& fn, int argc, sqlite3_value** argv) : fn_(fn), argc_(argc), argv_(argv) {}

    int count() const { return argc_; }
    // Present and not NULL.
    bool has(const char* name) const;

    // Required values: a NULL (or missing) argument is an error naming it.
    // An argument the surface lets a PostgreSQL call leave out but SQLite's
    // not (Omit::PostgresDefault) is required here by its opt_ reader too.
    std::string text(const char* name) const;
    int64_t integer(const char* name) const;
    int64_t non_negative(const char* name) const;
    bool boolean(const char* name) const;
    // A JSON array of strings, e.g. '["a", "b"]'.
    std::vector<std::string> string_list(const char* name) const;

    // Optional values: missing or NULL -> nullopt / the default.
    std::optional<std::string> opt_text(const char* name) const;
    int64_t opt_integer(const char* name, int64_t dflt) const;
    bool opt_boolean(const char* name, bool dflt) const;

private:
    // The declared argument: its position, and the name errors use.
    struct Declared {
        int pos;
        const char* name;
        bool required;
    };
    Declared declared(const char* name) const;  // throws when the surface does not declare it
    sqlite3_value* at(const Declared& d) const;   // non-NULL or throws
    bool present(int pos) const { return pos < argc_ && sqlite3_value_type(argv_[pos]) != SQLITE_NULL; }
    const bgupdate::sql::Function& fn_;
    int argc_;
    sqlite3_value** argv_;
};

}  // namespace bgupdate_sqlite
