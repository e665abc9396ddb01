// The one narrow interface between the engine-agnostic core and a database
// engine (PostgreSQL SPI, SQLite connection), grouped by the roles an engine
// plays. Everything the core knows about an engine goes through here or
// through Dialect (SQL text differences).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace bgupdate {

class ConstraintDelta;
class Dialect;
enum class FragmentKind;
class QueueAdoption;

// A value read from the database. Integers stay integers so that keyset bounds
// round-trip exactly through progress JSON; everything else is carried as text.
struct Value {
    enum class Kind { Null, Integer, Real, Text };
    Kind kind = Kind::Null;
    int64_t integer = 0;
    double real = 0;
    std::string text;

    static Value null() { return Value{}; }
    static Value of(int64_t v) { Value x; x.kind = Kind::Integer; x.integer = v; return x; }
    static Value of_real(double v) { Value x; x.kind = Kind::Real; x.real = v; return x; }
    static Value of(std::string v) { Value x; x.kind = Kind::Text; x.text = std::move(v); return x; }
    bool is_null() const { return kind == Kind::Null; }
    // Text form (integers and reals printed); empty for NULL.
    std::string as_text() const;
    int64_t as_int() const;  // NULL -> 0; text parsed
    double as_real() const;
};

using Row = std::vector<Value>;
using Rows = std::vector<Row>;

// Who an update runs as (PostgreSQL: the registering role, by OID, and its
// search_path). SQLite leaves both empty.
struct Identity {
    std::string owner;
    std::string search_path;
    // A batch runs restricted (PostgreSQL: a security-restricted operation as
    // the owner). The caller's own statements in its own session (schema
    // deltas, name checks at registration) run unrestricted with its path.
    bool restricted = true;
};

// Health signals (common/health.h). The core asks for the signals its
// settings turn on; an engine returns the ones it can read (a signal it does
// not know is simply left out: SQLite has no standbys).
struct HealthRequest {
    std::string update_name;
    std::string table;                 // the user table the update works on; "" when unknown
    Identity owner;                    // whose search_path resolves `table` (PostgreSQL)
    std::vector<std::string> signals;  // names from bgupdate::signal
    std::string hook;                  // health hook function, "" = none
};
struct HealthReading {
    std::string signal;
    double value = 0;    // the worst instance (e.g. the most lagging standby)
    std::string detail;  // which one (a standby's name, a pid); the hook's reason
};

// One table of a declarative partition tree (PostgreSQL): the root, and
// its partitions at every level. Names are given unquoted, schema apart.
struct PartitionNode {
    std::string schema, name;
    std::string parent_schema, parent;  // empty for the root
    bool leaf = false;
    int level = 0;
    // "schema.name": how progress and messages name it.
    std::string qualified() const { return schema + "." + name; }
};

// ---- The roles an engine plays --------------------------------------------
// Each role is a small interface of its own; Engine combines them, and the
// core takes an Engine. A binding implements every role.

// SQL and transactions: statements, atomic batches, and what the engine
// reads of a user's schema.
class SqlRole {
public:
    virtual ~SqlRole() = default;

    virtual const Dialect& dialect() const = 0;

    // Run one SQL statement (values inlined as literals by Dialect::literal).
    // query returns all rows; exec returns rows changed.
    // Errors are thrown as bgupdate::Error with the right ErrorKind.
    virtual Rows query(const std::string& sql) = 0;
    virtual int64_t exec(const std::string& sql) = 0;
    // The same with values bound to the statement's placeholders
    // (Dialect::placeholder: $1.. on PostgreSQL, ?1.. on SQLite), params[0]
    // to number 1. The statement is prepared once and kept (per connection
    // or session, bounded) for the next call with the same text: a batch's
    // hot statements are then parsed and planned once per update, not once
    // per batch. Text values keep the type their context gives them (a key
    // column's type), as a literal would.
    virtual Rows query(const std::string& sql, const std::vector<Value>& params) = 0;
    virtual int64_t exec(const std::string& sql, const std::vector<Value>& params) = 0;
    // A maintenance statement of a batch that blocks no writes and may take
    // long on a big table (VALIDATE CONSTRAINT): not bounded by
    // statement_timeout_ms (only lock_timeout and cancel() stop it).
    virtual int64_t exec_unbounded(const std::string& sql) { return exec(sql); }

    // One atomic batch: work and progress commit together or not at all.
    // SQLite: BEGIN IMMEDIATE or SAVEPOINT; PostgreSQL worker: a transaction;
    // PostgreSQL session: a subtransaction. Applies the lock timeout.
    // (batch_transaction.h: the scope guard that begins and ends one.)
    virtual void begin_batch(int64_t lock_timeout_ms, int64_t statement_timeout_ms) = 0;
    virtual void commit_batch() = 0;
    virtual void rollback_batch() = 0;
    // Whether the innermost batch's transaction is still open (the
    // application may have rolled it back between batch_begin and batch_end).
    virtual bool batch_is_open() { return true; }

    // A statement that must run outside any transaction block
    // (CREATE INDEX CONCURRENTLY). Called inside a batch: the binding may
    // commit what the batch did so far, run it top-level, and open a new one.
    virtual void exec_outside_transaction(const std::string& sql) = 0;
    // Whether exec_outside_transaction can work here at all (a PostgreSQL
    // session cannot: it is inside the caller's transaction). Updates that
    // need it are then left to a runner that can (the worker).
    virtual bool can_exec_outside_transaction() { return true; }

    // Declarative partitioning: the tree under `table` (root first, then its
    // partitions by level), or empty when `table` is not partitioned (SQLite
    // never is). The default runs Dialect::partition_tree_sql (partitions.cpp).
    virtual std::vector<PartitionNode> partition_tree(const std::string& table);

    // Parse, never run, a user fragment that already passed check_fragment_text
    // (fragment_check.h): it must be exactly one condition over `table`
    // (IndexPredicate: one fit for an index) or one SET list of an UPDATE of
    // `table`, with nothing else smuggled in; names and types must resolve.
    // Throws Error with the engine's message; runs no user code.
    virtual void check_fragment(FragmentKind kind, const std::string& table, const std::string& fragment) = 0;

    // Pins the table an update works on at registration (PostgreSQL: its OID);
    // "" when the engine cannot tell one table from another of the same name.
    virtual std::string pin_table(const std::string& table) { (void)table; return ""; }
    // At batch time: the name under which the pinned table is reached now
    // (followed through a rename), or an error when it was dropped or another
    // table took its name.
    virtual std::string pinned_table(const std::string& table, const std::string& pin) { (void)pin; return table; }
};

// Claims: which runner works on what, across sessions and workers, and
// what the core may ask of the runner that holds a claim.
class ClaimsRole {
public:
    virtual ~ClaimsRole() = default;

    // Exclusive claim on an update across sessions and workers (the claim
    // protocol: README "Who runs a batch, and when"). false: someone else has it. A
    // claim is held at least until the transaction that commits the batch has
    // ended: release_update gives it back only where that has happened (the
    // PostgreSQL worker, between its transactions); a claim taken inside a
    // caller's transaction ends with that transaction, whatever release says.
    virtual bool try_claim_update(const std::string& update_name) = 0;
    virtual void release_update(const std::string& update_name) = 0;
    // Claim on the table an update writes to, taken after try_claim_update
    // and held as long: `relation` nullopt means unknown (a generic handler)
    // and excludes every other update; a known table excludes only updates
    // on the same table or on an unknown one. Engines whose runners cannot
    // overlap (SQLite: one writer at a time) keep the defaults.
    virtual bool try_claim_table(const std::optional<std::string>& relation) { (void)relation; return true; }
    virtual void release_table() {}
    // Claim on one partition of a partitioned table, instead of
    // try_claim_table: the partition exclusively and its parent shared, so
    // that partitions of one table run side by side while an update on the
    // table as a whole (which claims it exclusively) waits. Relation names
    // as for try_claim_table; released by release_table.
    virtual bool try_claim_partition(const std::string& parent, const std::string& partition) {
        (void)parent;
        return try_claim_table(partition);
    }

    // Why no background runner will run this database's updates ("" when one
    // will: the PostgreSQL worker); finish() waits for it only then.
    virtual std::string background_runner_unavailable() { return "waiting for another runner is not possible here"; }
    // Whether the runner holding `update_name`'s claim waits for a lock this
    // session holds (finish() would then wait for ever).
    virtual bool holds_lock_the_runner_needs(const std::string& update_name) { (void)update_name; return false; }
    // Stops the running batch of `update_name` (another session's or a
    // worker's); false when none runs now.
    virtual bool cancel_running_batch(const std::string& update_name) { (void)update_name; return false; }
};

// Identity: who the caller is, who a batch runs as, and what each may do.
class IdentityRole {
public:
    virtual ~IdentityRole() = default;

    // Identity of the caller, used when registering; switched to for each batch.
    // Everything a batch changes in the session (settings, role) is undone
    // when leaving it, however the batch ended. (identity_scope.h: the scope
    // guard that enters and leaves one.)
    virtual Identity current_identity() = 0;
    virtual void enter_identity(const Identity& who) = 0;
    virtual void leave_identity() = 0;
    // A readable name for an owner in messages.
    virtual std::string owner_name(const std::string& owner) { return owner; }
    // May the current caller manage (see, pause, run) an update owned by `owner`?
    virtual bool may_manage(const std::string& owner) = 0;
    // May the current role delete rows from one of the extension's own
    // tables (PostgreSQL: a table privilege)? Engines without privileges: yes.
    virtual bool may_delete_from(const std::string& own_table) { (void)own_table; return true; }
    // Whether a batch of an update owned by `owner` may run here: only the
    // caller's own role's code runs in a user's session (another role's batch
    // could read the caller's open cursors, temporary tables or settings). A
    // runner of its own (the worker, SQLite) runs every role's updates.
    virtual bool is_caller(const std::string& owner) { (void)owner; return true; }

    // A database file may come from someone else (SQLite). May this runner
    // run a registration read from it? SQLite with PRAGMA trusted_schema OFF:
    // only one the application made the same way (`kind`, `spec_json`) on
    // its connection. And may a batch call this application function (a
    // generic handler)? SQLite: only one the application allowed there.
    virtual bool registration_trusted(const std::string& update_name, const std::string& kind,
                                      const std::string& spec_json) {
        (void)update_name, (void)kind, (void)spec_json;
        return true;
    }
    virtual bool application_function_allowed(const std::string& function) {
        (void)function;
        return true;
    }
};

// The application's own code that a batch calls: handlers and hooks.
class UserCodeRole {
public:
    virtual ~UserCodeRole() = default;

    // Generic handler: call the user's function (progress, batch_size) -> items.
    virtual int64_t call_handler(const std::string& function, const std::string& progress_json,
                                 int64_t batch_size) = 0;
    // Controller hook: call the user's function (update_name) -> number, NULL -> nullopt.
    virtual std::optional<double> call_hook(const std::string& function,
                                            const std::string& update_name) = 0;
    // Check that a handler/hook function exists and return its canonical name.
    virtual std::string resolve_function(const std::string& function, bool is_hook) = 0;
};

// Settings (PostgreSQL: GUCs and a table; SQLite: bgupdate_config). nullopt = default.
class SettingsRole {
public:
    virtual ~SettingsRole() = default;

    virtual std::optional<std::string> get_setting(const std::string& key) = 0;
    virtual void set_setting(const std::string& key, const std::string& value) = 0;
};

// The run loop's pace and what it tells the world between batches.
class RunLoopRole {
public:
    virtual ~RunLoopRole() = default;

    // The duration the next batch's measured work should aim at, given the
    // target. A binding whose lock hold has a part the runner does not
    // measure (SQLite: the COMMIT) may aim lower while others wait for that
    // lock, so the whole hold stays near the target.
    virtual double batch_target_ms(double target_ms) { return target_ms; }
    // Sleep between batches; returns false when the caller should stop now.
    virtual bool sleep_ms(int64_t ms) = 0;
    // Between batches of a run loop: false when the runner must stop now
    // (PostgreSQL: the worker was asked to stop, or the postmaster died).
    virtual bool keep_going() { return true; }
    // A message for the person waiting (PostgreSQL: a NOTICE).
    virtual void notice(const std::string& message) { (void)message; }
    // One line in the server log for an update's life events (start,
    // complete, hold, failure); the PostgreSQL worker logs them, others may not.
    virtual void log_event(const std::string&) {}
};

// Health signals (health.h).
class HealthRole {
public:
    virtual ~HealthRole() = default;

    // Throws when a signal cannot be read (the core then holds the update:
    // it fails closed). May be called inside a batch.
    virtual std::vector<HealthReading> read_health(const HealthRequest&) { return {}; }
    // Identifies the database (for caching health verdicts per database).
    virtual std::string database_key() { return ""; }
};

// Procedures that differ between engines by more than SQL text, each behind
// a small interface of its own that the binding implements.
class ProceduresRole {
public:
    virtual ~ProceduresRole() = default;

    virtual ConstraintDelta& constraint_delta() = 0;  // constraint_delta.h
    virtual QueueAdoption& queue_adoption() = 0;      // queue_adoption.h
};

class Engine : public SqlRole,
               public ClaimsRole,
               public IdentityRole,
               public UserCodeRole,
               public SettingsRole,
               public RunLoopRole,
               public HealthRole,
               public ProceduresRole {
public:
    ~Engine() override = default;
};

}  // namespace bgupdate
