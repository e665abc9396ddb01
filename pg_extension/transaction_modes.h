// How a batch is made atomic on PostgreSQL: one class per way the engine is
// called. The engine (spi_engine.*) owns what a batch sets (timeouts, the
// owner's identity and settings); these own only transaction boundaries.
//   SessionTransactions   - a SQL function: each batch is a subtransaction of
//                           the caller's transaction.
//   ProcedureTransactions - CALL bgupdate.run(): the same, and the caller's
//                           transaction is committed after each batch.
//   WorkerTransactions    - the background worker: each batch is a transaction
//                           of its own; between batches a short one is opened
//                           on demand and never left idle.
// Every method may throw bgupdate::Error (PostgreSQL calls run in pg_guard).
#pragma once

#include <memory>

#include "pg_headers.h"

namespace bgupdate_pg {

class TransactionMode {
public:
    virtual ~TransactionMode() = default;
    // Before any statement: a transaction to run it in (the worker opens one).
    virtual void ensure_open() {}
    virtual void begin_batch() = 0;
    virtual void end_batch(bool commit) = 0;
    // A PostgreSQL error was caught inside the batch: roll its scope back.
    virtual void abort_batch() = 0;
    // A PostgreSQL error was caught outside any batch. false: the caller's
    // transaction is unusable and only an ERROR may follow.
    virtual bool recover_outside_batch() = 0;
    // Commit the short transaction open between batches (worker), if any.
    virtual void finish_transaction() {}
    // Whether a statement can run top-level here (outside any transaction).
    virtual bool can_run_top_level() const { return false; }
    // Whether end_batch committed the caller's transaction, ending the
    // engine's own GUC levels with it (the engine sets them again).
    virtual bool ends_caller_transaction() const { return false; }
};

class SessionTransactions : public TransactionMode {
public:
    void begin_batch() override;
    void end_batch(bool commit) override;
    void abort_batch() override;
    bool recover_outside_batch() override { return false; }

private:
    void restore_outer();
    MemoryContext outer_context_ = nullptr;
    ResourceOwner outer_owner_ = nullptr;
};

class ProcedureTransactions : public SessionTransactions {
public:
    void end_batch(bool commit) override;
    bool ends_caller_transaction() const override { return true; }
};

class WorkerTransactions : public TransactionMode {
public:
    // `between`: the worker's per-loop memory context, current between transactions.
    explicit WorkerTransactions(MemoryContext between) : between_(between ? between : TopMemoryContext) {}
    void ensure_open() override;
    void begin_batch() override;
    void end_batch(bool commit) override;
    void abort_batch() override;
    bool recover_outside_batch() override;
    void finish_transaction() override;
    bool can_run_top_level() const override { return true; }

private:
    void open();
    void close(bool commit);
    MemoryContext between_;
    bool open_ = false;
};

}  // namespace bgupdate_pg
