// What the application vouched for on its connection, kept in memory (never
// in the database file, which may come from someone else): the application
// functions that statements of a batch may call, and the registrations it made
// itself (with PRAGMA trusted_schema OFF only those run). Shared by the
// connection's engine and its background thread's engine.
#pragma once

#include <map>
#include <mutex>
#include <set>
#include <string>
#include <utility>

namespace bgupdate_sqlite {

class ConnectionTrust {
public:
    // Names are compared as SQLite compares function names: ASCII case folded.
    static std::string fold(const std::string& name) {
        std::string out = name;
        for (auto& c : out)
            if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
        return out;
    }

    void allow_function(const std::string& name) {
        std::lock_guard<std::mutex> lock(mutex_);
        allowed_.insert(fold(name));
    }
    bool function_allowed(const std::string& name) const {
        std::lock_guard<std::mutex> lock(mutex_);
        return allowed_.count(fold(name)) > 0;
    }
    std::set<std::string> allowed_functions() const {
        std::lock_guard<std::mutex> lock(mutex_);
        return allowed_;
    }

    // A registration as the application made it here: its kind and its stored definition.
    void remember_registration(const std::string& update_name, const std::string& kind, const std::string& spec_json) {
        std::lock_guard<std::mutex> lock(mutex_);
        registered_[update_name] = {kind, spec_json};
    }
    bool registered_here(const std::string& update_name, const std::string& kind, const std::string& spec_json) const {
        std::lock_guard<std::mutex> lock(mutex_);
        auto it = registered_.find(update_name);
        return it != registered_.end() && it->second.first == kind && it->second.second == spec_json;
    }

private:
    mutable std::mutex mutex_;
    std::set<std::string> allowed_;
    std::map<std::string, std::pair<std::string, std::string>> registered_;
};

}  // namespace bgupdate_sqlite
