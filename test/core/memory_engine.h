// A bgupdate::Engine on a private in-memory SQLite database, for unit tests
// of the runner, the Api, the store and the handlers without an extension
// loaded: handlers and hooks are C++ callables, claims a set, sleeping is
// counted instead of done, and lock timeouts can be injected.
#pragma once

#include <sqlite3.h>

#include <functional>
#include <map>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

#include "dialect.h"
#include "engine.h"
#include "errors.h"
#include "fragment_check.h"
#include "queue_adoption_sqlite.h"
#include "sqlite_table_rebuild.h"

namespace bgupdate_test {

using bgupdate::Error;
using bgupdate::ErrorKind;
using bgupdate::Row;
using bgupdate::Rows;
using bgupdate::Value;

class MemoryEngine : public bgupdate::Engine {
public:
    using HandlerFn = std::function<int64_t(const std::string& progress_json, int64_t batch_size)>;

    MemoryEngine() {
        if (sqlite3_open(":memory:", &db_) != SQLITE_OK) throw std::runtime_error("cannot open :memory:");
    }
    ~MemoryEngine() override { sqlite3_close(db_); }

    // Test controls.
    std::map<std::string, HandlerFn> handlers;
    std::map<std::string, std::function<std::optional<double>(const std::string&)>> hooks;
    int lock_timeouts_at_begin = 0;  // the next N begin_batch calls time out (another writer)
    int64_t slept_ms = 0;
    std::set<std::string> claimed_elsewhere;  // another session holds these
    std::string me;                             // the caller's role (owners compare to it)
    std::string no_background_runner;          // why no worker would run another role's update ("": one would)
    std::vector<std::string> notices;           // what a waiting finish() told the caller
    std::function<void()> on_sleep;             // another runner's work, done while this one waits
    // Declarative partitions, faked over plain tables: table -> its tree.
    std::map<std::string, std::vector<bgupdate::PartitionNode>> partitions;
    // Every partition claim taken: (parent, partition).
    std::vector<std::pair<std::string, std::string>> partition_claims;

    const bgupdate::Dialect& dialect() const override { return dialect_; }

    Rows query(const std::string& sql) override { return query(sql, {}); }

    // Values bound as the extension's SQLite engine binds them; every
    // statement run with values is recorded (tests check what was bound).
    std::vector<std::pair<std::string, std::vector<Value>>> bound_statements;

    Rows query(const std::string& sql, const std::vector<Value>& params) override {
        if (!params.empty()) bound_statements.emplace_back(sql, params);
        sqlite3_stmt* st = nullptr;
        int rc = sqlite3_prepare_v2(db_, sql.c_str(), -1, &st, nullptr);
        if (rc != SQLITE_OK) fail(rc, sql);
        if (static_cast<int>(params.size()) != sqlite3_bind_parameter_count(st)) {
            sqlite3_finalize(st);
            throw std::logic_error(std::to_string(params.size()) + " values for the placeholders of: " + sql);
        }
        for (size_t i = 0; i < params.size(); ++i) {
            const Value& v = params[i];
            const int n = static_cast<int>(i + 1);
            switch (v.kind) {
                case Value::Kind::Null: sqlite3_bind_null(st, n); break;
                case Value::Kind::Integer: sqlite3_bind_int64(st, n, v.integer); break;
                case Value::Kind::Real: sqlite3_bind_double(st, n, v.real); break;
                case Value::Kind::Text:
                    sqlite3_bind_text(st, n, v.text.data(), static_cast<int>(v.text.size()), SQLITE_TRANSIENT);
                    break;
            }
        }
        Rows rows;
        while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
            Row row;
            for (int i = 0; i < sqlite3_column_count(st); ++i) {
                switch (sqlite3_column_type(st, i)) {
                    case SQLITE_NULL: row.push_back(Value::null()); break;
                    case SQLITE_INTEGER: row.push_back(Value::of(static_cast<int64_t>(sqlite3_column_int64(st, i)))); break;
                    case SQLITE_FLOAT: row.push_back(Value::of_real(sqlite3_column_double(st, i))); break;
                    default: row.push_back(Value::of(std::string(reinterpret_cast<const char*>(sqlite3_column_text(st, i)))));
                }
            }
            rows.push_back(std::move(row));
        }
        sqlite3_finalize(st);
        if (rc != SQLITE_DONE) fail(sqlite3_extended_errcode(db_), sql);
        return rows;
    }

    int64_t exec(const std::string& sql) override { return exec(sql, {}); }
    int64_t exec(const std::string& sql, const std::vector<Value>& params) override {
        query(sql, params);
        return sqlite3_changes(db_);
    }

    void begin_batch(int64_t, int64_t) override {
        if (lock_timeouts_at_begin > 0) {
            --lock_timeouts_at_begin;
            throw Error(ErrorKind::LockTimeout, "database is locked (in: BEGIN IMMEDIATE)");
        }
        exec(depth_ == 0 ? "BEGIN IMMEDIATE" : "SAVEPOINT b" + std::to_string(depth_));
        ++depth_;
    }
    void commit_batch() override {
        --depth_;
        exec(depth_ == 0 ? "COMMIT" : "RELEASE b" + std::to_string(depth_));
    }
    void rollback_batch() override {
        --depth_;
        if (depth_ == 0) exec("ROLLBACK");
        else {
            exec("ROLLBACK TO b" + std::to_string(depth_));
            exec("RELEASE b" + std::to_string(depth_));
        }
    }
    void exec_outside_transaction(const std::string& sql) override { exec(sql); }

    bool try_claim_update(const std::string& name) override {
        if (claimed_elsewhere.count(name)) return false;
        return claims_.insert(name).second;
    }
    void release_update(const std::string& name) override { claims_.erase(name); }
    bool try_claim_partition(const std::string& parent, const std::string& partition) override {
        partition_claims.emplace_back(parent, partition);
        return true;
    }
    std::vector<bgupdate::PartitionNode> partition_tree(const std::string& table) override {
        auto it = partitions.find(table);
        return it == partitions.end() ? std::vector<bgupdate::PartitionNode>{} : it->second;
    }
    bool holds_claim(const std::string& key) const { return claims_.count(key) > 0; }

    int64_t call_handler(const std::string& function, const std::string& progress_json, int64_t batch_size) override {
        auto it = handlers.find(function);
        if (it == handlers.end()) throw Error(ErrorKind::Failure, "no such handler function " + function);
        return it->second(progress_json, batch_size);
    }
    std::optional<double> call_hook(const std::string& function, const std::string& update_name) override {
        return hooks.at(function)(update_name);
    }
    std::string resolve_function(const std::string& function, bool is_hook) override {
        if (is_hook ? !hooks.count(function) : !handlers.count(function))
            bgupdate::bad_input("function " + function + " does not exist");
        return function;
    }

    // As the SQLite binding: prepare (never run) the statement the fragment would be part of.
    void check_fragment(bgupdate::FragmentKind kind, const std::string& table, const std::string& fragment) override {
        std::string sql;
        if (kind == bgupdate::FragmentKind::SetList) {
            Rows cols = query("SELECT name FROM pragma_table_info(" + dialect_.literal(table) + ") ORDER BY cid LIMIT 1");
            if (cols.empty()) bgupdate::bad_input("table '" + table + "' does not exist");
            std::string col = dialect_.ident(cols[0][0].as_text());
            sql = "UPDATE " + dialect_.table(table) + " SET " + bgupdate::compose_set_list(fragment) + ", " + col +
                  " = " + col + " WHERE FALSE";
        } else {
            sql = "SELECT 1 FROM " + dialect_.table(table) + " WHERE " + bgupdate::compose_condition(fragment);
        }
        sqlite3_stmt* st = nullptr;
        int rc = sqlite3_prepare_v2(db_, sql.c_str(), -1, &st, nullptr);
        sqlite3_finalize(st);
        if (rc != SQLITE_OK) bgupdate::bad_input(std::string(sqlite3_errmsg(db_)));
    }

    bgupdate::Identity current_identity() override { return {me, "", true}; }
    bool is_caller(const std::string& owner) override { return owner == me; }
    std::string background_runner_unavailable() override { return no_background_runner; }
    void notice(const std::string& message) override { notices.push_back(message); }
    void enter_identity(const bgupdate::Identity&) override {}
    void leave_identity() override {}
    bool may_manage(const std::string&) override { return true; }

    std::optional<std::string> get_setting(const std::string& key) override {
        auto it = settings_.find(key);
        if (it == settings_.end()) return std::nullopt;
        return it->second;
    }
    void set_setting(const std::string& key, const std::string& value) override { settings_[key] = value; }

    bool sleep_ms(int64_t ms) override {
        slept_ms += ms;
        if (on_sleep) on_sleep();
        return true;
    }

    // The SQLite binding's procedures: this is a SQLite database too.
    bgupdate::ConstraintDelta& constraint_delta() override { return table_rebuild_; }
    bgupdate::QueueAdoption& queue_adoption() override { return queue_adoption_; }

    int depth() const { return depth_; }

private:
    // As the SQLite binding maps errors.
    [[noreturn]] void fail(int rc, const std::string& sql) {
        int primary = rc & 0xff;
        ErrorKind kind = primary == SQLITE_BUSY || primary == SQLITE_LOCKED ? ErrorKind::LockTimeout
                         : primary == SQLITE_CONSTRAINT                      ? ErrorKind::Integrity
                                                                             : ErrorKind::Failure;
        throw Error(kind, std::string(sqlite3_errmsg(db_)) + " (in: " + sql + ")");
    }

    sqlite3* db_ = nullptr;
    bgupdate::Dialect dialect_{bgupdate::Dialect::Kind::Sqlite};
    int depth_ = 0;
    std::set<std::string> claims_;
    std::map<std::string, std::string> settings_;
    bgupdate_sqlite::TableRebuild table_rebuild_{*this};
    bgupdate_sqlite::SameTableQueueAdoption queue_adoption_{*this};
};

}  // namespace bgupdate_test
