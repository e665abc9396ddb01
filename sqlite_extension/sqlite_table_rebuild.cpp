// SQLite's way to add a constraint: create the new table from the caller's
// schema, copy the rows that satisfy the constraint, drop the old table,
// rename, recreate its indexes and triggers, then check foreign keys — all in
// one transaction. PRAGMA foreign_keys must be off during the swap (it only
// changes outside a transaction) and legacy_alter_table on so that views over
// the table survive the rename; both are restored on every exit path.
#include "sqlite_table_rebuild.h"

#include <algorithm>

#include "batch_transaction.h"
#include "constraint.h"
#include "dialect.h"
#include "errors.h"
#include "json.h"
#include "registration.h"
#include "store.h"

namespace bgupdate_sqlite {

using namespace bgupdate;

namespace {

bool sqlite3_stricmp_ascii(const std::string& x, const std::string& y) {  // SQLite names: ASCII case-insensitive
    if (x.size() != y.size()) return false;
    for (size_t i = 0; i < x.size(); ++i)
        if (std::tolower(static_cast<unsigned char>(x[i])) != std::tolower(static_cast<unsigned char>(y[i]))) return false;
    return true;
}

class PragmaGuard {
public:
    PragmaGuard(Engine& e, const std::string& pragma, const std::string& value) : e_(e), pragma_(pragma) {
        before_ = e_.query("PRAGMA " + pragma_)[0][0].as_text();
        e_.exec("PRAGMA " + pragma_ + " = " + value);
    }
    ~PragmaGuard() {
        try { e_.exec("PRAGMA " + pragma_ + " = " + before_); } catch (...) {}
    }
    const std::string& before() const { return before_; }

private:
    Engine& e_;
    std::string pragma_, before_;
};

}  // namespace

int64_t TableRebuild::add_constraint_and_enqueue(const ConstraintDeltaArgs& a, const Settings& settings) {
    Engine& engine = engine_;
    const Dialect& d = engine.dialect();
    Registrar checks(engine);
    Store store(engine);
    Registrar::require_name(a.update_name, "update_name");
    Registrar::require_name(a.constraint_name, "constraint_name");
    Registrar::require_name(a.sqlite_table_name, "sqlite_table_name");
    if (a.sqlite_table_schema.find_first_not_of(" \t\r\n") == std::string::npos)
        bad_input("sqlite_table_schema must be the CREATE TABLE statement of '" + a.sqlite_table_name + "'");
    Constraint c = Constraint::parse(a.constraint_json);
    checks.require_columns(a.table, c.own_columns(), "constraint column");
    // A queued update that still fills this table would lose its rows to the
    // constraint check: never drop rows silently.
    for (auto& q : store.queue()) {
        auto reg = store.registration(q.update_name);
        if (!reg) continue;
        auto spec = Json::parse_object(reg->spec_json, "registration of '" + q.update_name + "'");
        auto target = spec.get_string("table");
        if (target && sqlite3_stricmp_ascii(*target, a.table))
            bad_input("background update '" + q.update_name + "' is still queued on table '" + a.table +
                      "': finish it first (bgupdate_finish('" + q.update_name + "')), or rebuilding the table for "
                      "constraint '" + a.constraint_name + "' could drop rows it has not filled yet");
    }
    if (!store.table_columns(a.sqlite_table_name).empty())
        bad_input("table '" + a.sqlite_table_name + "' (sqlite_table_name) already exists");

    PragmaGuard foreign_keys(engine, "foreign_keys", "OFF");
    PragmaGuard legacy_alter(engine, "legacy_alter_table", "ON");
    if (engine.query("PRAGMA foreign_keys")[0][0].as_int() != 0)
        bad_input("add_constraint_and_enqueue must run outside a transaction while PRAGMA foreign_keys is ON "
                  "(SQLite cannot switch foreign keys off inside one)");

    return in_batch(engine, settings, [&] {
        auto saved = engine.query("SELECT sql FROM sqlite_master WHERE tbl_name = " + d.literal(a.table) +
                                  " AND type IN ('index', 'trigger') AND sql IS NOT NULL ORDER BY type, name");
        engine.exec(a.sqlite_table_schema);
        auto new_cols = store.table_columns(a.sqlite_table_name);
        if (new_cols.empty())
            bad_input("sqlite_table_schema did not create table '" + a.sqlite_table_name + "'");
        std::vector<std::string> common;
        for (auto& col : store.table_columns(a.table))
            if (std::find(new_cols.begin(), new_cols.end(), col) != new_cols.end()) common.push_back(d.ident(col));
        std::string cols = join(common, ", ");
        int64_t before = engine.query("SELECT count(*) FROM " + d.ident(a.table))[0][0].as_int();
        int64_t copied = engine.exec("INSERT INTO " + d.ident(a.sqlite_table_name) + " (" + cols + ") SELECT " + cols +
                                     " FROM " + d.ident(a.table) + " WHERE " + c.row_check(d, a.table));
        engine.exec("DROP TABLE " + d.ident(a.table));
        engine.exec("ALTER TABLE " + d.ident(a.sqlite_table_name) + " RENAME TO " + d.ident(a.table));
        for (auto& row : saved) engine.exec(row[0].as_text());

        // Foreign keys from the rebuilt table, and from tables that reference it.
        std::vector<std::string> to_check{a.table};
        for (auto& row : engine.query("SELECT m.name FROM sqlite_master m, pragma_foreign_key_list(m.name) f "
                                      "WHERE m.type = 'table' AND f.\"table\" = " + d.literal(a.table) +
                                      " COLLATE NOCASE GROUP BY m.name"))
            to_check.push_back(row[0].as_text());
        for (auto& t : to_check) {
            auto bad = engine.query("SELECT \"table\", rowid, parent FROM pragma_foreign_key_check(" + d.literal(t) + ")");
            if (!bad.empty())
                bad_input("rebuilding '" + a.table + "' would break a foreign key: row " + bad[0][1].as_text() +
                          " of '" + bad[0][0].as_text() + "' references a missing row of '" + bad[0][2].as_text() + "'");
        }
        int64_t removed = before - copied;
        UpdateState st = store.state(a.update_name);
        st.update_name = a.update_name;
        store.add_history(a.update_name, "rebuilt", st,
                          "table '" + a.table + "' rebuilt for constraint '" + a.constraint_name + "': " +
                              std::to_string(removed) + " row(s) failed it and were removed");
        return removed;
    });
}

}  // namespace bgupdate_sqlite
