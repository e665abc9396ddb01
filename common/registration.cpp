#include "registration.h"

#include <algorithm>
#include <map>
#include <set>

#include "dialect.h"
#include "errors.h"

namespace bgupdate {

void Registrar::require_name(const std::string& value, const std::string& what) {
    if (value.empty()) bad_input(what + " must not be empty");
    if (value.find('\0') != std::string::npos) bad_input(what + " contains a NUL byte");
}

std::vector<std::string> Registrar::require_table(const std::string& table) {
    require_name(table, "table");
    auto cols = store_.table_columns(table);
    if (cols.empty()) bad_input("table '" + table + "' does not exist");
    return cols;
}

void Registrar::require_columns(const std::string& table, const std::vector<std::string>& columns,
                                const std::string& what) {
    auto existing = require_table(table);
    for (auto& c : columns) {
        require_name(c, what);
        if (std::find(existing.begin(), existing.end(), c) == existing.end())
            bad_input("column '" + c + "' (" + what + ") does not exist in table '" + table + "'");
    }
}

void Registrar::require_unique_key(const std::string& table, const std::vector<std::string>& keys,
                                   const std::string& what) {
    const Dialect& d = engine_.dialect();
    std::map<std::string, bool> not_null;
    for (auto& r : engine_.query(d.not_null_columns_sql(table)))
        not_null[r[0].as_text()] = r[1].kind == Value::Kind::Text ? (r[1].text == "t" || r[1].text == "true")
                                                                  : r[1].as_int() != 0;
    for (auto& k : keys)
        if (!not_null[k])
            bad_input(what + " must be NOT NULL and unique, but column '" + k + "' of table '" + table +
                      "' may hold NULL (rows with a NULL key would be skipped): declare it NOT NULL");
    // Key id -> its columns; a key with an expression column (no name) proves nothing.
    std::map<std::string, std::vector<std::string>> unique;
    std::set<std::string> with_expressions;
    for (auto& r : engine_.query(d.unique_keys_sql(table))) {
        if (r[1].is_null()) with_expressions.insert(r[0].as_text());
        else unique[r[0].as_text()].push_back(r[1].as_text());
    }
    for (auto& [id, cols] : unique) {
        if (with_expressions.count(id)) continue;
        if (std::all_of(cols.begin(), cols.end(),
                        [&](const std::string& c) { return std::find(keys.begin(), keys.end(), c) != keys.end(); }))
            return;
    }
    std::vector<std::string> quoted;
    for (auto& k : keys) quoted.push_back("'" + k + "'");
    bad_input(what + " (" + join(quoted, ", ") + ") of table '" + table +
              "' must be unique: no primary key or unique index (valid, without WHERE or expressions) has all "
              "its columns among them (rows sharing a key would be skipped)");
}

void Registrar::require_fragment(FragmentKind kind, const std::string& table, const std::string& fragment,
                                 const std::string& what) {
    check_fragment_text(fragment, what, engine_.dialect().kind());
    try {
        engine_.check_fragment(kind, table, fragment);
    } catch (const Error& e) {
        if (e.kind() == ErrorKind::LockTimeout) throw;
        bad_input(what + " is not valid for table '" + table + "': " + e.what());
    }
}

void Registrar::save(const std::string& update_name, HandlerKind kind, const Json& spec) {
    require_name(update_name, "update_name");
    if (auto owner = store_.owner_of(update_name); owner && !engine_.may_manage(*owner))
        fail(ErrorKind::PermissionDenied,
             "permission denied: background update '" + update_name + "' belongs to " + engine_.owner_name(*owner));
    Registration reg{update_name, kind, spec.dump(), engine_.current_identity()};
    require_same_definition_while_queued(reg);
    store_.save_registration(reg);
}

namespace {

// The same arguments; a registration made before tables were pinned has no
// pin, and registering it again adds one without changing what it means.
bool same_arguments(const std::string& old_spec, const std::string& new_spec) {
    if (old_spec == new_spec) return true;
    try {
        Json o = Json::parse_object(old_spec, "registration"), n = Json::parse_object(new_spec, "registration");
        if (!o.at("table_pin").is_null()) return false;
        n.erase("table_pin");
        return o.dump() == n.dump();
    } catch (const Error&) {
        return false;
    }
}

}  // namespace

// A registration means one thing: once its update is queued (perhaps half
// done), a different definition would run the rest of its batches with other
// SQL, on another table or as another role. Registering the same definition
// again (an application does so at every start) is fine.
void Registrar::require_same_definition_while_queued(const Registration& reg) {
    auto old = store_.registration(reg.update_name);
    if (!old || !store_.queue_row(reg.update_name)) return;
    std::vector<std::string> changed;
    if (old->kind != reg.kind) changed.push_back(std::string("handler kind (") + handler_kind_name(old->kind) + " -> " +
                                                 handler_kind_name(reg.kind) + ")");
    else if (!same_arguments(old->spec_json, reg.spec_json))
        changed.push_back("arguments (" + old->spec_json + " -> " + reg.spec_json + ")");
    if (old->identity.owner != reg.identity.owner)
        changed.push_back("owner (" + engine_.owner_name(old->identity.owner) + " -> " +
                          engine_.owner_name(reg.identity.owner) + ")");
    if (old->identity.search_path != reg.identity.search_path)
        changed.push_back("search_path ('" + old->identity.search_path + "' -> '" + reg.identity.search_path + "')");
    if (changed.empty()) return;
    fail(ErrorKind::NotNow,
         "background update '" + reg.update_name + "' is queued with a different definition: " + join(changed, ", ") +
             "; a queued update's definition cannot change under it",
         "register the new definition under a new name, or call reset('" + reg.update_name +
             "') to start the update over (its progress is forgotten) and register it again");
}

void Registrar::pin_table(Json& spec, const std::string& table) {
    std::string pin = engine_.pin_table(table);
    if (!pin.empty()) spec.set("table_pin", pin);
}

void Registrar::application(const std::string& update_name) {
    save(update_name, HandlerKind::Application, Json::object());
}

}  // namespace bgupdate
