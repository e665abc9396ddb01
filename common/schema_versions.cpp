#include "schema_versions.h"

#include "batch_transaction.h"
#include "dialect.h"
#include "errors.h"
#include "queue_adoption.h"
#include "schema_apply.h"
#include "schema_migration.h"
#include "statement_splitter.h"

namespace bgupdate {

void check_schema_compat(Engine& engine, int64_t code_version) {
    const Dialect& d = engine.dialect();
    auto rows = engine.query("SELECT compat_version FROM " + d.own(OwnTable::SchemaCompat));
    if (!rows.empty() && !rows[0][0].is_null() && rows[0][0].as_int() > code_version)
        bad_input("the database schema needs code of version " + rows[0][0].as_text() +
                  " or newer, but this code is version " + std::to_string(code_version));
}

bool apply_schema_delta(Engine& engine, const Settings& settings, int64_t version, const std::string& file_name,
                        const std::string& sql) {
    const Dialect& d = engine.dialect();
    if (file_name.empty()) bad_input("file_name must not be empty");
    std::string where = " WHERE version = " + std::to_string(version) + " AND file = " + d.literal(file_name);
    if (!engine.query("SELECT 1 FROM " + d.own(OwnTable::AppliedDeltas) + where).empty()) return false;
    auto statements = split_statements(substitute_schema_placeholders(sql, d.kind()), d.kind());
    in_batch(engine, settings, [&] {
        // Synapse's deltas write `background_updates` unqualified: make sure it is
        // the queue (or out of the way of a delta that creates its own).
        bool makes_queue = creates_queue_table(statements);
        if (makes_queue) engine.queue_adoption().set_queue_aside_for_snapshot();
        else engine.queue_adoption().adopt_queue();
        for (size_t i = 0; i < statements.size(); ++i) {
            try {
                engine.exec(statements[i]);
            } catch (const Error& e) {
                throw Error(e.kind(), "schema delta " + std::to_string(version) + "/" + file_name + ", statement " +
                                          std::to_string(i + 1) + ": " + e.what(), e.sqlstate());
            }
        }
        if (makes_queue) engine.queue_adoption().take_queue_back_after_snapshot();
        else engine.queue_adoption().adopt_queue();
        engine.exec("INSERT INTO " + d.own(OwnTable::AppliedDeltas) + " (version, file) VALUES (" +
                    std::to_string(version) + ", " + d.literal(file_name) + ")");
    });
    return true;
}

void set_schema_version(Engine& engine, const Settings& settings, int64_t version, int64_t compat_version) {
    const Dialect& d = engine.dialect();
    if (version < 0 || compat_version < 0) bad_input("schema versions must not be negative");
    if (compat_version > version) bad_input("compat_version must not be newer than version");
    in_batch(engine, settings, [&] {
        engine.exec("DELETE FROM " + d.own(OwnTable::SchemaVersion));
        engine.exec("INSERT INTO " + d.own(OwnTable::SchemaVersion) + " (version, upgraded) VALUES (" +
                    std::to_string(version) + ", TRUE)");
        engine.exec("DELETE FROM " + d.own(OwnTable::SchemaCompat));
        engine.exec("INSERT INTO " + d.own(OwnTable::SchemaCompat) + " (compat_version) VALUES (" +
                    std::to_string(compat_version) + ")");
    });
}

}  // namespace bgupdate
