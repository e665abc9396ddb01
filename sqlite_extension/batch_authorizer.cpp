#include "batch_authorizer.h"

#include "errors.h"

namespace bgupdate_sqlite {

namespace {

constexpr int kDeterministicOrInnocuous = 0x800 | 0x200000;  // SQLITE_DETERMINISTIC | SQLITE_INNOCUOUS

// The names of sqlite3_set_authorizer's action codes (sqlite3.h), for messages.
const char* action_name(int code) {
    static const char* const names[] = {
        "COPY", "CREATE INDEX", "CREATE TABLE", "CREATE TEMP INDEX", "CREATE TEMP TABLE", "CREATE TEMP TRIGGER",
        "CREATE TEMP VIEW", "CREATE TRIGGER", "CREATE VIEW", "DELETE", "DROP INDEX", "DROP TABLE", "DROP TEMP INDEX",
        "DROP TEMP TABLE", "DROP TEMP TRIGGER", "DROP TEMP VIEW", "DROP TRIGGER", "DROP VIEW", "INSERT", "PRAGMA",
        "READ", "SELECT", "TRANSACTION", "UPDATE", "ATTACH", "DETACH", "ALTER TABLE", "REINDEX", "ANALYZE",
        "CREATE VIRTUAL TABLE", "DROP VIRTUAL TABLE", "FUNCTION", "SAVEPOINT", "RECURSIVE"};
    return code >= 0 && code < static_cast<int>(sizeof(names) / sizeof(names[0])) ? names[code] : "unknown";
}

bool main_or_temp(const char* db) {
    std::string d = ConnectionTrust::fold(db);
    return d == "main" || d == "temp";
}

std::set<std::string> column_set(sqlite3* db, const std::string& sql) {
    std::set<std::string> out;
    sqlite3_stmt* st = nullptr;
    int rc = sqlite3_prepare_v2(db, sql.c_str(), -1, &st, nullptr);
    while (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        const unsigned char* t = sqlite3_column_text(st, 0);
        if (t) out.insert(ConnectionTrust::fold(reinterpret_cast<const char*>(t)));
        rc = SQLITE_OK;
    }
    std::string error = rc == SQLITE_DONE ? "" : sqlite3_errmsg(db);
    sqlite3_finalize(st);
    if (!error.empty())
        throw bgupdate::Error(bgupdate::ErrorKind::Failure,
                              "cannot read what a batch may use (" + error + "), so no batch runs: " + sql);
    return out;
}

}  // namespace

BatchAuthorizer::~BatchAuthorizer() {
    // No SQLite calls: this may run while SQLite closes the connection.
}

const char* BatchAuthorizer::rule_summary() {
    return "statements a batch runs from the database file may use only the main and temp databases, built-in "
           "functions, and application functions the application allowed on its connection "
           "(bgupdate_allow_function)";
}

void BatchAuthorizer::set(AuthorizerFn fn, void* arg) { sqlite3_set_authorizer(db_, fn, arg); }

void BatchAuthorizer::read_rules() {
    safe_builtins_ = column_set(
        db_, "SELECT name FROM pragma_function_list GROUP BY name HAVING max(builtin = 0 OR (flags & 2099200) = 0) = 0");
    // SQLite names no database when a statement counts the rows of an
    // unqualified table (count(*) reads no column): the names of tables that
    // only an ATTACHed database has are refused then (a CTE of the same name too).
    std::set<std::string> here = column_set(db_, "SELECT name FROM sqlite_schema WHERE type IN ('table', 'view') UNION "
                                                 "SELECT name FROM sqlite_temp_schema WHERE type IN ('table', 'view')");
    for (const char* t : {"sqlite_master", "sqlite_schema", "sqlite_temp_master", "sqlite_temp_schema"}) here.insert(t);
    elsewhere_.clear();
    for (const std::string& schema :
         column_set(db_, "SELECT name FROM pragma_database_list WHERE name NOT IN ('main', 'temp')")) {
        std::string quoted = "\"";
        for (char c : schema) quoted += c == '"' ? std::string("\"\"") : std::string(1, c);
        quoted += "\"";
        for (const std::string& t :
             column_set(db_, "SELECT name FROM " + quoted + ".sqlite_schema WHERE type IN ('table', 'view')"))
            if (!here.count(t)) elsewhere_[t] = schema;
    }
    allowed_ = trust_ ? trust_->allowed_functions() : std::set<std::string>{};
}

void BatchAuthorizer::push(bool ours) {
    bool was_ours = !layers_.empty() && layers_.back();
    if (layers_.empty()) {
        bool known = false;
        app_ = current_authorizer(db_, &known);
        if (app_.fn == &BatchAuthorizer::callback) app_ = Authorizer{};  // ours, left by an earlier batch
    }
    // Read while ours is not in effect (it refuses pragma_function_list); may throw: nothing changed yet.
    if (ours && !was_ours) read_rules();
    layers_.push_back(ours);
    if (ours != was_ours) set(ours ? &BatchAuthorizer::callback : app_.fn, ours ? this : app_.arg);
    if (ours) refusal_.clear();
}

void BatchAuthorizer::pop() {
    if (layers_.empty()) return;
    bool was_ours = layers_.back();
    layers_.pop_back();
    bool ours = !layers_.empty() && layers_.back();
    if (ours != was_ours) set(ours ? &BatchAuthorizer::callback : app_.fn, ours ? this : app_.arg);
}

void BatchAuthorizer::install() { push(true); }
void BatchAuthorizer::uninstall() { pop(); }
void BatchAuthorizer::suspend() { if (!layers_.empty()) push(false); }
void BatchAuthorizer::resume() { if (!layers_.empty() && !layers_.back()) pop(); }

std::string BatchAuthorizer::take_refusal() {
    std::string r = std::move(refusal_);
    refusal_.clear();
    return r;
}

bool BatchAuthorizer::application_function_allowed(const std::string& name) const {
    return trust_ && trust_->function_allowed(name);
}

int BatchAuthorizer::callback(void* self, int code, const char* a1, const char* a2, const char* db,
                              const char* context) {
    return static_cast<BatchAuthorizer*>(self)->decide(code, a1, a2, db, context);
}

int BatchAuthorizer::refuse(const std::string& what) {
    if (refusal_.empty()) refusal_ = what;
    return SQLITE_DENY;
}

int BatchAuthorizer::decide(int code, const char* a1, const char* a2, const char* db, const char* context) {
    // Inside a trigger or a view: SQL stored in the schema, which SQLite's own
    // rules govern (trusted_schema, SQLITE_DIRECTONLY; a trigger or view in
    // main cannot reach another database).
    if (!context) {
        switch (code) {
            case SQLITE_FUNCTION: {
                std::string f = ConnectionTrust::fold(a2 ? a2 : "");
                if (!safe_builtins_.count(f) && !allowed_.count(f)) return refuse(std::string("function ") + (a2 ? a2 : "") + "()");
                break;
            }
            case SQLITE_READ: {
                std::string table = a1 ? a1 : "", folded = ConnectionTrust::fold(table);
                if (folded.rfind("pragma_", 0) == 0) return refuse("table-valued function " + table + "()");
                if (db) {
                    if (!main_or_temp(db)) return refuse("database '" + std::string(db) + "' (table " + table + ")");
                } else if (auto other = elsewhere_.find(folded); other != elsewhere_.end()) {
                    return refuse("database '" + other->second + "' (table " + table + ")");
                }
                break;
            }
            case SQLITE_INSERT:
            case SQLITE_UPDATE:
            case SQLITE_DELETE:
                if (db && !main_or_temp(db)) return refuse("database '" + std::string(db) + "' (table " + (a1 ? a1 : "") + ")");
                break;
            case SQLITE_CREATE_INDEX:
            case SQLITE_DROP_INDEX:
            case SQLITE_REINDEX:  // part of CREATE INDEX
                if (db && !main_or_temp(db)) return refuse("database '" + std::string(db) + "' (index " + (a1 ? a1 : "") + ")");
                break;
            case SQLITE_SELECT:
            case SQLITE_RECURSIVE:
            case SQLITE_TRANSACTION:
            case SQLITE_SAVEPOINT:
                break;
            case SQLITE_ATTACH:
                return refuse("ATTACH");
            case SQLITE_DETACH:
                return refuse("DETACH");
            case SQLITE_PRAGMA:
                return refuse(std::string("PRAGMA ") + (a1 ? a1 : ""));
            default:
                return refuse(std::string("a statement of kind ") + action_name(code));
        }
    }
    // Ours allows it: the application's own rules still apply.
    return app_.fn ? app_.fn(app_.arg, code, a1, a2, db, context) : SQLITE_OK;
}

}  // namespace bgupdate_sqlite
