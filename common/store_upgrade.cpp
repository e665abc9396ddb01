// The store's version lives in its own one-row table (kStoreVersionTable),
// not in PRAGMA user_version, which belongs to the application.
#include "store_upgrade.h"

#include <optional>

#include "dialect.h"
#include "errors.h"
#include "settings.h"
#include "store_schema.h"

namespace bgupdate {

namespace {

// What the file says: its store version (none: made before store versions,
// or new) and how many of the latest layout's tables and triggers it has.
struct Found {
    std::optional<int64_t> version;
    int64_t objects = 0;
};

int64_t expected_objects(const Dialect& d) {
    static const int64_t n = static_cast<int64_t>(latest_store_layout(d).size() + latest_store_triggers(d).size());
    return n;
}

// Built once: this runs before every SQL function call.
const std::string& objects_count_sql(const Dialect& d) {
    static const std::string sql = [&] {
        std::vector<std::string> tables, triggers;
        for (auto& t : latest_store_layout(d)) tables.push_back(d.literal(t.name));
        for (auto& t : latest_store_triggers(d)) triggers.push_back(d.literal(t));
        return "(SELECT count(*) FROM sqlite_master WHERE (type = 'table' AND name IN (" + join(tables, ", ") +
               ")) OR (type = 'trigger' AND name IN (" + join(triggers, ", ") + ")))";
    }();
    return sql;
}

bool has_table(Engine& e, const std::string& name) {
    return !e.query("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = " + e.dialect().literal(name)).empty();
}

Found look(Engine& e) {
    const Dialect& d = e.dialect();
    try {
        // The one query of every call on an up-to-date file.
        static const std::string sql = "SELECT version, " + objects_count_sql(d) + " FROM " + kStoreVersionTable;
        auto rows = e.query(sql);
        Found f;
        if (rows.empty()) f.objects = e.query("SELECT " + objects_count_sql(d))[0][0].as_int();
        else f = Found{rows[0][0].as_int(), rows[0][1].as_int()};
        return f;
    } catch (const Error&) {
        if (has_table(e, kStoreVersionTable)) throw;  // not the missing table: a real error
        return Found{std::nullopt, e.query("SELECT " + objects_count_sql(d))[0][0].as_int()};
    }
}

bool has_column(Engine& e, const std::string& table, const std::string& column) {
    const Dialect& d = e.dialect();
    return e.query("SELECT 1 FROM pragma_table_info(" + d.literal(table) + ") WHERE name = " + d.literal(column))
               .size() == 1;
}

// Whether a step's object is in the file already.
bool already_there(Engine& e, const StoreStep& s) {
    const Dialect& d = e.dialect();
    switch (s.kind) {
        case StoreStep::Kind::CreateTable: return has_table(e, s.table.on(d));
        case StoreStep::Kind::AddColumn: return has_column(e, s.table.on(d), s.columns.at(0).name);
        case StoreStep::Kind::CreateTrigger:
            return !e.query("SELECT 1 FROM sqlite_master WHERE type = 'trigger' AND name = " + d.literal(s.trigger_name))
                        .empty();
    }
    return false;
}

[[noreturn]] void step_failed(const Dialect& d, std::optional<int64_t> from, const StoreVersion& v,
                              const StoreStep& s, const Error& e) {
    std::string whence = from ? "store version " + std::to_string(*from) : "a layout made before store versions";
    throw Error(e.kind(),
                "bgupdate: upgrading this database's bgupdate tables from " + whence + " to version " +
                    std::to_string(latest_store_version()) + " failed at version " + std::to_string(v.number) +
                    ", step '" + s.describe(d) + "': " + e.what() + " (nothing was changed)",
                e.sqlstate());
}

// A file made before store versions (or whose objects went missing since,
// e.g. a snapshot replaced the queue): every step whose object is not there
// yet, as the releases before store versions created them.
void complete_layout(Engine& e) {
    const Dialect& d = e.dialect();
    for (auto& v : store_versions())
        for (auto& s : v.steps) {
            if (!s.applies_to(d)) continue;
            if (already_there(e, s)) continue;
            try {
                e.exec(render_store_step(d, s, /*if_missing=*/false));  // another object of its name: an error
            } catch (const Error& err) {
                step_failed(d, std::nullopt, v, s, err);
            }
        }
}

// A file of store version `from`: the steps of every later version, as
// they are (an object in the way is an error).
void upgrade_from(Engine& e, int64_t from) {
    const Dialect& d = e.dialect();
    for (auto& v : store_versions()) {
        if (v.number <= from) continue;
        for (auto& s : v.steps) {
            if (!s.applies_to(d)) continue;
            try {
                e.exec(render_store_step(d, s, /*if_missing=*/false));
            } catch (const Error& err) {
                step_failed(d, from, v, s, err);
            }
        }
    }
}

void refuse_newer(int64_t version) {
    fail(ErrorKind::NotNow,
         "bgupdate: this database's bgupdate tables are at store version " + std::to_string(version) +
             ", newer than this build's " + std::to_string(latest_store_version()) +
             ": it was used by a newer bgupdate, and this one leaves it untouched",
         "use a bgupdate build of that version or newer");
}

void bring_up_to_date(Engine& e) {
    const Dialect& d = e.dialect();
    Found f = look(e);  // again: another connection may have done it meanwhile
    const int64_t latest = latest_store_version();
    if (f.version && *f.version > latest) refuse_newer(*f.version);
    if (f.version == latest && f.objects == expected_objects(d)) return;
    if (!has_table(e, d.own(OwnTable::State))) {
        // A new file (the application's own queue or schema tables may be there).
        for (auto& sql : latest_store_ddl(d)) e.exec(sql);
    } else if (f.version && *f.version < latest) {
        upgrade_from(e, *f.version);
    } else {
        complete_layout(e);
    }
    e.exec(std::string("DELETE FROM ") + kStoreVersionTable);
    e.exec(std::string("INSERT INTO ") + kStoreVersionTable + " (version) VALUES (" + std::to_string(latest) + ")");
}

}  // namespace

void ensure_store_schema(Engine& e) {
    const Dialect& d = e.dialect();
    if (!d.is_sqlite()) return;
    Found f = look(e);
    if (f.version && *f.version > latest_store_version()) refuse_newer(*f.version);
    if (f.version == latest_store_version() && f.objects == expected_objects(d)) return;
    // One transaction: the whole upgrade, or nothing of it.
    const Settings defaults;
    e.begin_batch(defaults.lock_timeout_ms, 0);
    try {
        bring_up_to_date(e);
    } catch (...) {
        e.rollback_batch();
        throw;
    }
    e.commit_batch();
}

}  // namespace bgupdate
