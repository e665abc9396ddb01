#include "schema_apply.h"

#include <regex>

#include "batch_transaction.h"
#include "dialect.h"
#include "errors.h"
#include "queue_adoption.h"
#include "schema_migration.h"
#include "statement_splitter.h"
#include "store.h"

namespace bgupdate {
namespace {

std::vector<std::string> statements_of(Engine& engine, const std::string& sql) {
    return split_statements(substitute_schema_placeholders(sql, engine.dialect().kind()), engine.dialect().kind());
}

}  // namespace

bool creates_queue_table(const std::vector<std::string>& statements) {
    static const std::regex create(R"(^\s*CREATE\s+TABLE\s+(IF\s+NOT\s+EXISTS\s+)?([A-Za-z_"]+\.)?"?background_updates"?[\s(])",
                                   std::regex::icase);
    for (auto& s : statements)
        if (std::regex_search(s, create)) return true;
    return false;
}

namespace {

void run_statements(Engine& engine, const std::string& what, const std::vector<std::string>& statements) {
    for (size_t i = 0; i < statements.size(); ++i) {
        try {
            engine.exec(statements[i]);
        } catch (const Error& e) {
            throw Error(e.kind(), what + ", statement " + std::to_string(i + 1) + ": " + e.what(), e.sqlstate());
        }
    }
}

bool sqlite_has_table(Engine& engine, const std::string& name) {
    return !engine.query("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = " +
                         engine.dialect().literal(name)).empty();
}

}  // namespace

void apply_schema_snapshot(Engine& engine, const Settings& settings, int64_t version, const std::string& file_name,
                           const std::string& sql) {
    const Dialect& d = engine.dialect();
    if (file_name.empty()) bad_input("file_name must not be empty");
    if (version < 0) bad_input("version must not be negative");
    in_batch(engine, settings, [&] {
        auto current = engine.query("SELECT version, upgraded FROM " + d.own(OwnTable::SchemaVersion));
        if (!current.empty() && (current[0][0].as_int() != version || current[0][1].as_text() == "1" ||
                                 current[0][1].as_text() == "t" || current[0][1].as_text() == "true"))
            bad_input("a full schema snapshot only goes into an empty database, and this one is at schema version " +
                      current[0][0].as_text());
        // Only a file that creates its own background_updates needs the queue out of its way.
        auto statements = statements_of(engine, sql);
        bool makes_queue = creates_queue_table(statements);
        if (makes_queue) engine.queue_adoption().set_queue_aside_for_snapshot();
        run_statements(engine, "schema snapshot " + std::to_string(version) + "/" + file_name, statements);
        if (makes_queue) engine.queue_adoption().take_queue_back_after_snapshot();
        engine.exec("DELETE FROM " + d.own(OwnTable::SchemaVersion));
        engine.exec("INSERT INTO " + d.own(OwnTable::SchemaVersion) + " (version, upgraded) VALUES (" +
                    std::to_string(version) + ", FALSE)");
        if (engine.query("SELECT 1 FROM " + d.own(OwnTable::SchemaCompat)).empty())
            engine.exec("INSERT INTO " + d.own(OwnTable::SchemaCompat) + " (compat_version) VALUES (" +
                        std::to_string(version) + ")");
    });
}

std::string skipped_deltas_table(Engine& engine) {
    return engine.dialect().own(OwnTable::SkippedDeltas);
}

bool skip_schema_delta(Engine& engine, int64_t version, const std::string& file_name, const std::string& reason) {
    const Dialect& d = engine.dialect();
    if (file_name.empty()) bad_input("file_name must not be empty");
    std::string table = skipped_deltas_table(engine);
    if (d.is_sqlite())  // PostgreSQL: created by the extension's script
        engine.exec("CREATE TABLE IF NOT EXISTS " + table + " (version INT NOT NULL, file TEXT NOT NULL,"
                    " reason TEXT NOT NULL, skipped_at TEXT NOT NULL, UNIQUE (version, file))");
    std::string where = " WHERE version = " + std::to_string(version) + " AND file = " + d.literal(file_name);
    if (!engine.query("SELECT 1 FROM " + table + where).empty()) return false;
    engine.exec("INSERT INTO " + table + " (version, file, reason, skipped_at) VALUES (" + std::to_string(version) +
                ", " + d.literal(file_name) + ", " + d.literal(reason) + ", " + d.literal(iso_timestamp_now()) + ")");
    return true;
}

std::set<std::string> skipped_schema_deltas(Engine& engine) {
    std::set<std::string> out;
    if (engine.dialect().is_sqlite() && !sqlite_has_table(engine, skipped_deltas_table(engine))) return out;
    for (auto& r : engine.query("SELECT file FROM " + skipped_deltas_table(engine))) out.insert(r[0].as_text());
    return out;
}

}  // namespace bgupdate
