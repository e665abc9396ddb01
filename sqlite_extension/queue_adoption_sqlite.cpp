#include "queue_adoption_sqlite.h"

#include <string>
#include <vector>

#include "dialect.h"
#include "errors.h"

namespace bgupdate_sqlite {

using namespace bgupdate;

namespace {

const char* kSetAside = "bgupdate_queue_during_snapshot";

std::vector<std::string> column_names(Engine& e, const std::string& table) {
    std::vector<std::string> out;
    for (auto& r : e.query(e.dialect().columns_of_table_sql(table))) out.push_back(r[0].as_text());
    return out;
}

bool table_exists(Engine& e, const std::string& name) {
    return !e.query("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = " + e.dialect().literal(name))
                .empty();
}

}  // namespace

AdoptionResult SameTableQueueAdoption::adopt_queue() {
    Engine& e = engine_;
    AdoptionResult out;
    if (!table_exists(e, "background_updates")) {
        for (auto& sql : e.dialect().schema_ddl())
            if (sql.find("background_updates") != std::string::npos) e.exec(sql);
        return out;
    }
    auto cols = column_names(e, "background_updates");
    synapse_queue_columns(cols, "table background_updates");
    // An old Synapse schema without these columns: add them (Synapse's defaults).
    if (!has_column(cols, "depends_on")) e.exec("ALTER TABLE background_updates ADD COLUMN depends_on TEXT");
    if (!has_column(cols, "ordering")) e.exec("ALTER TABLE background_updates ADD COLUMN ordering INT NOT NULL DEFAULT 0");
    return out;
}

void SameTableQueueAdoption::set_queue_aside_for_snapshot() {
    Engine& e = engine_;
    if (table_exists(e, kSetAside))
        bad_input(std::string("table ") + kSetAside + " exists: an earlier snapshot did not finish; "
                  "move its rows into background_updates and drop it");
    if (table_exists(e, "background_updates"))
        e.exec(std::string("ALTER TABLE background_updates RENAME TO ") + kSetAside);
}

AdoptionResult SameTableQueueAdoption::take_queue_back_after_snapshot() {
    Engine& e = engine_;
    AdoptionResult out;
    if (!table_exists(e, kSetAside)) return adopt_queue();
    if (!table_exists(e, "background_updates")) {
        e.exec(std::string("ALTER TABLE ") + kSetAside + " RENAME TO background_updates");
        return adopt_queue();
    }
    // The snapshot made its own table: it becomes the queue, with our rows in it.
    out = adopt_queue();
    std::string cols = synapse_queue_columns(column_names(e, kSetAside), kSetAside);
    out.rows_moved = e.exec("INSERT OR IGNORE INTO background_updates (" + cols + ") SELECT " + cols + " FROM " +
                            kSetAside);
    e.exec(std::string("DROP TABLE ") + kSetAside);
    out.adopted_table = true;
    return out;
}

}  // namespace bgupdate_sqlite
