#include "transaction_modes.h"

#include "error_boundary.h"

namespace bgupdate_pg {

// ---- session and procedure: subtransactions of the caller's transaction ----

void SessionTransactions::begin_batch() {
    outer_context_ = CurrentMemoryContext;
    outer_owner_ = CurrentResourceOwner;
    MemoryContext outer = outer_context_;
    pg_guard([&] {
        BeginInternalSubTransaction(nullptr);
        MemoryContextSwitchTo(outer);
    });
}

void SessionTransactions::restore_outer() {
    MemoryContextSwitchTo(outer_context_);
    CurrentResourceOwner = outer_owner_;
}

void SessionTransactions::end_batch(bool commit) {
    if (!commit) {
        abort_batch();
        return;
    }
    try {
        pg_guard([&] { ReleaseCurrentSubTransaction(); });
    } catch (...) {
        // A deferred trigger failed at release: the subtransaction is gone.
        pg_guard([&] { RollbackAndReleaseCurrentSubTransaction(); });
        restore_outer();
        throw;
    }
    restore_outer();
}

void SessionTransactions::abort_batch() {
    pg_guard([&] { RollbackAndReleaseCurrentSubTransaction(); });
    restore_outer();
}

void ProcedureTransactions::end_batch(bool commit) {
    SessionTransactions::end_batch(commit);
    // CALL bgupdate.run(): each batch is committed for good before the next.
    pg_guard([&] { SPI_commit(); });
}

// ---- worker: a transaction per batch ----

void WorkerTransactions::open() {
    pg_guard([&] {
        SetCurrentStatementStartTimestamp();
        StartTransactionCommand();
        if (SPI_connect() != SPI_OK_CONNECT) elog(ERROR, "SPI_connect failed");
        PushActiveSnapshot(GetTransactionSnapshot());
    });
    open_ = true;
}

void WorkerTransactions::close(bool commit) {
    if (!open_) return;
    open_ = false;
    // Between transactions CurrentMemoryContext would be TopMemoryContext:
    // the worker's per-loop context instead, so nothing accumulates.
    if (!commit) {
        pg_guard([&] { AbortCurrentTransaction(); });
        MemoryContextSwitchTo(between_);
        return;
    }
    try {
        pg_guard([&] {
            SPI_finish();
            PopActiveSnapshot();
            CommitTransactionCommand();
            pgstat_report_stat(false);
        });
        MemoryContextSwitchTo(between_);
    } catch (...) {
        // A deferred constraint or trigger failed at commit: the transaction is gone.
        pg_guard([&] { AbortCurrentTransaction(); });
        MemoryContextSwitchTo(between_);
        throw;
    }
}

void WorkerTransactions::ensure_open() {
    if (!open_) open();
}

void WorkerTransactions::begin_batch() {
    close(true);
    open();
}

void WorkerTransactions::end_batch(bool commit) { close(commit); }

void WorkerTransactions::abort_batch() { recover_outside_batch(); }

bool WorkerTransactions::recover_outside_batch() {
    open_ = false;
    pg_guard([&] { AbortCurrentTransaction(); });
    MemoryContextSwitchTo(between_);
    return true;
}

void WorkerTransactions::finish_transaction() { close(true); }

}  // namespace bgupdate_pg
