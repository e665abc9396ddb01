// The Api's argument structs, read from a binding's SQL arguments by the
// names sql_surface.h declares. One definition for both bindings: each
// passes its own reader (PostgreSQL's Datums, SQLite's values), which finds
// the argument by name, converts it by its declared type and names it in
// errors. A reader offers text, opt_text, integer, opt_boolean and
// string_list.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "api_types.h"

namespace bgupdate {

// The arguments of one register_* call, as the kind's registration reads
// them (handler_kind.h): the same readers, behind one interface, so that
// common code reads either binding's arguments. Each reads lazily, so the
// first bad argument in the order a kind reads them is the one reported.
class RegistrationArguments {
public:
    virtual ~RegistrationArguments() = default;
    virtual std::string text(const char* name) const = 0;
    virtual std::optional<std::string> opt_text(const char* name) const = 0;
    virtual int64_t integer(const char* name) const = 0;
    virtual bool opt_boolean(const char* name, bool dflt) const = 0;
    virtual std::vector<std::string> string_list(const char* name) const = 0;
};

// A binding's reader seen as RegistrationArguments.
template <class Args>
class ArgumentsOf : public RegistrationArguments {
public:
    explicit ArgumentsOf(const Args& a) : a_(a) {}
    std::string text(const char* name) const override { return a_.text(name); }
    std::optional<std::string> opt_text(const char* name) const override { return a_.opt_text(name); }
    int64_t integer(const char* name) const override { return a_.integer(name); }
    bool opt_boolean(const char* name, bool dflt) const override { return a_.opt_boolean(name, dflt); }
    std::vector<std::string> string_list(const char* name) const override { return a_.string_list(name); }

private:
    const Args& a_;
};

// Each reads its arguments in a braced list, which C++ evaluates left to
// right: the first bad argument is the one reported, as in SQL order.

// fixed_range, min_key, max_key (min_key and max_key are JSON: an array, or
// one value for a one-column key).
template <class Args>
KeyRangeArgs key_range_args(const Args& a) {
    return KeyRangeArgs{a.opt_boolean("fixed_range", false), a.opt_text("min_key"), a.opt_text("max_key")};
}

template <class Args>
IndexUpdateArgs index_update_args(const Args& a) {
    return IndexUpdateArgs{a.text("update_name"),          a.text("index_name"),
                           a.text("table"),                a.string_list("columns"),
                           a.opt_text("where_clause"),     a.opt_boolean("is_unique", false),
                           a.opt_boolean("psql_only", false), a.opt_text("replaces_index")};
}

template <class Args>
BatchedUpdateArgs batched_update_args(const Args& a) {
    return BatchedUpdateArgs{a.text("update_name"), a.text("table"), a.string_list("key_columns"),
                             a.text("set_clause"), a.opt_text("where_clause"), key_range_args(a)};
}

// sqlite_table_name and sqlite_table_schema: PostgreSQL may leave them out
// (they are for a port to SQLite); SQLite's reader requires them.
template <class Args>
ConstraintDeltaArgs constraint_delta_args(const Args& a) {
    return ConstraintDeltaArgs{a.integer("ordering"),
                               a.text("update_name"),
                               a.text("table"),
                               a.text("constraint_name"),
                               a.text("constraint"),
                               a.opt_text("sqlite_table_name").value_or(""),
                               a.opt_text("sqlite_table_schema").value_or("")};
}

}  // namespace bgupdate
