// A database file is data, not code. A batch runs SQL that comes from the
// file (the fragments, table and function names of a registry row someone
// may have written by hand), and SQLite's trusted_schema protects only SQL
// stored in the schema, not statements an extension prepares. While a batch
// runs an update's definition, this authorizer lets its statements use only:
//   - the main and temp databases (no ATTACHed one, no ATTACH or DETACH);
//   - built-in functions that are deterministic or innocuous (load_extension
//     is neither) and the application functions the application allowed on
//     its connection (bgupdate_allow_function, or by registering a handler or
//     a hook there);
//   - no PRAGMA, and none of the pragma_* table-valued functions (they show
//     the connection's other databases and files).
// Inside a trigger or view SQLite's own schema rules (trusted_schema,
// SQLITE_DIRECTONLY) apply instead. The application's own authorizer, if it
// has one, is asked after ours and put back afterwards (callback_slots.h).
#pragma once

#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "callback_slots.h"
#include "connection_trust.h"
#include "sqlite_api.h"

namespace bgupdate_sqlite {

class BatchAuthorizer {
public:
    BatchAuthorizer(sqlite3* db, std::shared_ptr<const ConnectionTrust> trust) : db_(db), trust_(std::move(trust)) {}
    ~BatchAuthorizer();
    BatchAuthorizer(const BatchAuthorizer&) = delete;
    BatchAuthorizer& operator=(const BatchAuthorizer&) = delete;

    // Reads what the rules need (the built-in functions, the tables of main
    // and temp) and installs them. Throws bgupdate::Error if the rules cannot
    // be read (a batch then does not run: it fails closed).
    void install();
    void uninstall();
    // While an application function that bgupdate calls runs (a handler, a
    // hook), the application's own authorizer is in place: that is its code.
    // (A handler may call bgupdate_step(): its batch installs the rules again.)
    void suspend();
    void resume();
    // Whether the rules are in effect now (a statement prepared under them
    // may not be reused where they are, and the other way round).
    bool in_effect() const { return !layers_.empty() && layers_.back(); }

    // What the rules refused while the last statement was prepared ("" if
    // nothing), for the error message; cleared by reading it.
    std::string take_refusal();

    // The application function `name` may be called by a batch: the
    // application allowed it on this connection.
    bool application_function_allowed(const std::string& name) const;

    static const char* rule_summary();

private:
    static int callback(void* self, int code, const char* a1, const char* a2, const char* db, const char* context);
    int decide(int code, const char* a1, const char* a2, const char* db, const char* context);
    int refuse(const std::string& what);
    void set(AuthorizerFn fn, void* arg);
    // Layers of install (true) and suspend (false); the top one is in effect,
    // and with none the application's own authorizer is.
    void push(bool ours);
    void pop();
    void read_rules();

    sqlite3* db_;
    std::shared_ptr<const ConnectionTrust> trust_;
    std::vector<bool> layers_;
    Authorizer app_;  // the application's, chained and restored
    std::set<std::string> safe_builtins_, allowed_;
    std::map<std::string, std::string> elsewhere_;  // table only an ATTACHed database has -> that database
    std::string refusal_;
};

}  // namespace bgupdate_sqlite
