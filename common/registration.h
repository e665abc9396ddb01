// Validation of register_* arguments against the live schema (table and
// columns exist, names are usable) and saving the spec a kind stores. Each
// kind's own registration (in its handler file, named by its row in
// handlers/handler_kinds.cpp) reads its arguments and uses these checks.
#pragma once

#include <string>
#include <vector>

#include "api_types.h"
#include "fragment_check.h"
#include "json.h"
#include "store.h"

namespace bgupdate {

class Registrar {
public:
    explicit Registrar(Engine& engine) : engine_(engine), store_(engine) {}

    // The application runs its batches itself (batch_begin/batch_end).
    void application(const std::string& update_name);

    // Shared checks, also used by add_constraint_and_enqueue.
    static void require_name(const std::string& value, const std::string& what);
    std::vector<std::string> require_table(const std::string& table);
    void require_columns(const std::string& table, const std::vector<std::string>& columns, const std::string& what);
    // Keyset scans need keys that are NOT NULL and unique (a NULL key or a
    // duplicate makes the scan skip rows and still report complete).
    void require_unique_key(const std::string& table, const std::vector<std::string>& keys, const std::string& what);
    // A user SQL fragment: lexical check, then the engine's parser (never run).
    void require_fragment(FragmentKind kind, const std::string& table, const std::string& fragment,
                          const std::string& what);

    // Saves the registration (checking the caller may manage it and that a
    // queued update keeps its definition).
    void save(const std::string& update_name, HandlerKind kind, const Json& spec);
    // Records which table `table` is now (PostgreSQL: its OID), so that a
    // table dropped or replaced under the same name is not mistaken for it.
    void pin_table(Json& spec, const std::string& table);
    Engine& engine() { return engine_; }

private:
    void require_same_definition_while_queued(const Registration& reg);
    Engine& engine_;
    Store store_;
};

}  // namespace bgupdate
