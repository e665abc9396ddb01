#include "constraint.h"

#include "errors.h"
#include "json.h"

namespace bgupdate {

Constraint Constraint::parse(const std::string& text) {
    Json j = Json::parse_object(text, "constraint");
    Constraint c;
    if (auto col = j.get_string("not_null")) {
        c.kind = Kind::NotNull;
        c.column = *col;
        if (c.column.empty()) bad_input("constraint not_null needs a column name");
        return c;
    }
    Json fk = j.at("foreign_key");
    if (!fk.is_object())
        bad_input("constraint must be {\"not_null\": \"column\"} or {\"foreign_key\": {...}}, got: " + text.substr(0, 80));
    c.kind = Kind::ForeignKey;
    auto ref = fk.get_string("referenced_table");
    if (!ref || ref->empty()) bad_input("constraint foreign_key needs \"referenced_table\"");
    c.referenced_table = *ref;
    Json cols = fk.at("columns");
    if (cols.size() == 0)
        bad_input("constraint foreign_key needs \"columns\": [[\"column\", \"referenced_column\"], ...]");
    for (size_t i = 0; i < cols.size(); ++i) {
        Json pair = cols.element(i);
        auto mine = pair.element(0).as_string(), theirs = pair.element(1).as_string();
        if (pair.size() != 2 || !mine || !theirs)
            bad_input("constraint foreign_key column " + std::to_string(i) +
                      " must be a pair [\"column\", \"referenced_column\"]");
        c.columns.emplace_back(*mine, *theirs);
    }
    Json deferred = fk.at("deferred");
    if (!deferred.is_null() && !deferred.is_boolean())
        bad_input("constraint foreign_key \"deferred\" must be true or false");
    c.deferred = deferred.is_true();
    return c;
}

std::string Constraint::clause(const Dialect& d) const {
    if (kind == Kind::NotNull) return "CHECK (" + d.ident(column) + " IS NOT NULL)";
    std::vector<std::string> mine, theirs;
    for (auto& [a, b] : columns) {
        mine.push_back(d.ident(a));
        theirs.push_back(d.ident(b));
    }
    return "FOREIGN KEY (" + join(mine, ", ") + ") REFERENCES " + d.table(referenced_table) + " (" +
           join(theirs, ", ") + ")" + (deferred ? " DEFERRABLE INITIALLY DEFERRED" : "");
}

std::string Constraint::row_check(const Dialect& d, const std::string& table) const {
    std::string t = d.table(table);
    if (kind == Kind::NotNull) return t + "." + d.ident(column) + " IS NOT NULL";
    // MATCH SIMPLE: a row with any NULL in the key satisfies the foreign key.
    std::vector<std::string> any_null, matches;
    for (auto& [a, b] : columns) {
        any_null.push_back(t + "." + d.ident(a) + " IS NULL");
        matches.push_back("bgupdate_ref." + d.ident(b) + " = " + t + "." + d.ident(a));
    }
    return "(" + join(any_null, " OR ") + " OR EXISTS (SELECT 1 FROM " + d.table(referenced_table) +
           " AS bgupdate_ref WHERE " + join(matches, " AND ") + "))";
}

std::vector<std::string> Constraint::own_columns() const {
    if (kind == Kind::NotNull) return {column};
    std::vector<std::string> out;
    for (auto& p : columns) out.push_back(p.first);
    return out;
}

}  // namespace bgupdate
