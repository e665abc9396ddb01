// A constraint given as JSON ({"not_null": "col"} or {"foreign_key": {...}}):
// parsed and validated once, then rendered as the PostgreSQL constraint
// clause and as a row-level check usable in WHERE on either engine.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "dialect.h"

namespace bgupdate {

struct Constraint {
    enum class Kind { NotNull, ForeignKey } kind = Kind::NotNull;
    std::string column;                                       // not_null
    std::string referenced_table;                             // foreign_key
    std::vector<std::pair<std::string, std::string>> columns;  // (column, referenced column)
    bool deferred = false;

    static Constraint parse(const std::string& json);
    // "CHECK (col IS NOT NULL)" / "FOREIGN KEY (..) REFERENCES t (..) [DEFERRABLE INITIALLY DEFERRED]"
    std::string clause(const Dialect& d) const;
    // True for a row of `table` that satisfies the constraint.
    std::string row_check(const Dialect& d, const std::string& table) const;
    // The constrained table's columns the constraint mentions.
    std::vector<std::string> own_columns() const;
};

}  // namespace bgupdate
