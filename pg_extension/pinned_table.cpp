// Tables pinned by OID (Engine::pin_table / pinned_table): an update works on
// the table it was registered on, whatever happens to the name. A plain
// rename is followed; a table dropped, or another table now under the
// registered name while the original lives on elsewhere, is an error that
// says so, instead of the update "completing" on a table it never meant.
#include "spi_engine.h"

#include "error_boundary.h"

namespace bgupdate_pg {

using bgupdate::Error;
using bgupdate::ErrorKind;

// Resolved as the caller would resolve `table` (its search_path).
std::string SpiEngine::pin_table(const std::string& table) {
    auto rows = query("SELECT pg_catalog.to_regclass(" + dialect_.literal(dialect_.table(table)) +
                      ")::pg_catalog.oid::pg_catalog.int8");
    return rows.empty() || rows[0][0].is_null() ? std::string() : rows[0][0].as_text();
}

// Called as the update's owner: `table` resolves in the owner's search_path.
std::string SpiEngine::pinned_table(const std::string& table, const std::string& pin) {
    if (pin.empty() || pin.find_first_not_of("0123456789") != std::string::npos) return table;
    auto rows = query(
        "SELECT n.nspname, c.relname, pg_catalog.to_regclass(" + dialect_.literal(dialect_.table(table)) +
        ")::pg_catalog.oid::pg_catalog.int8 FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid "
        "OPERATOR(pg_catalog.=) c.relnamespace WHERE c.oid OPERATOR(pg_catalog.=) " + pin + "::pg_catalog.oid");
    if (rows.empty())
        throw Error(ErrorKind::BadInput,
                    "the table '" + table + "' this update was registered on (OID " + pin + ") no longer exists: it was dropped",
                    "", "", "reset() the update and register it again on the table it should work on now");
    const std::string schema = rows[0][0].as_text(), name = rows[0][1].as_text();
    const bgupdate::Value& under_name = rows[0][2];
    if (!under_name.is_null() && under_name.as_text() == pin) return table;  // unchanged
    if (!under_name.is_null())
        throw Error(ErrorKind::BadInput,
                    "'" + table + "' is no longer the table this update was registered on: that table is now " + schema +
                        "." + name + " (OID " + pin + "), and another table (OID " + under_name.as_text() +
                        ") took its name",
                    "", "", "rename the tables back, or reset() the update and register it again on the new table");
    // Renamed (or moved to another schema): follow it.
    if (schema.find('.') != std::string::npos || name.find('.') != std::string::npos)
        throw Error(ErrorKind::BadInput, "the table this update was registered on was renamed to " + schema + "." + name +
                                             ", a name with a dot, which cannot be followed");
    return schema + "." + name;
}

}  // namespace bgupdate_pg
