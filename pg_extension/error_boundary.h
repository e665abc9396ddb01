// The boundary between PostgreSQL's error handling (longjmp) and C++
// exceptions. Two rules, applied everywhere in pg_extension/:
//   1. PostgreSQL calls that may ereport run inside pg_guard(): the error is
//      copied, the error state flushed, and a bgupdate::Error thrown after
//      the PG_TRY frame is gone. The guarded lambda should be noexcept and
//      must not create C++ objects with destructors (a longjmp would skip
//      them); pg_guard calls it through a noexcept frame either way, so no
//      exception can unwind through the sigsetjmp frame.
//   2. Every SQL-callable entry runs its C++ body through invoke_cpp(): any
//      exception becomes ereport(ERROR) once the C++ frames have unwound.
// Both save PostgreSQL's PG_exception_stack and error_context_stack on entry
// and put them back on the way out, however the body ended, so a C++
// exception thrown between PostgreSQL calls can never leave them pointing
// into frames that are gone.
// Model: pg_duckdb's PgExceptionGuard / PostgresFunctionGuard / InvokeCPPFunc
// (read, not copied).
#pragma once

#include <string>

#include "errors.h"
#include "pg_headers.h"

namespace bgupdate_pg {

// Saves PostgreSQL's error stacks and restores them when it goes out of scope.
class PgStackGuard {
public:
    PgStackGuard() noexcept : exception_stack_(PG_exception_stack), context_stack_(error_context_stack) {}
    ~PgStackGuard() noexcept { restore(); }
    void restore() const noexcept {
        PG_exception_stack = exception_stack_;
        error_context_stack = context_stack_;
    }
    PgStackGuard(const PgStackGuard&) = delete;
    PgStackGuard& operator=(const PgStackGuard&) = delete;

private:
    sigjmp_buf* exception_stack_;
    ErrorContextCallback* context_stack_;
};

// Copies and flushes the current PostgreSQL error (C strings in `ctx`; no
// allocation that could throw). Must be called from a PG_CATCH block.
void capture_pg_error(MemoryContext ctx, char** message, char** detail, char** hint, int* code) noexcept;

// Maps a PostgreSQL error to the core's kinds by SQLSTATE (55P03 lock
// timeout, class 23 integrity, 42501 permission, 57014 canceled, 42704
// undefined object, 22023 bad input, everything else a failure), keeping
// DETAIL and HINT apart from the message.
[[noreturn]] void throw_pg_error(int sqlerrcode, const char* message, const char* detail, const char* hint);

// strncpy that always terminates.
inline void copy_text(char* dst, size_t size, const char* src) noexcept {
    size_t n = strlen(src);
    if (n >= size) n = size - 1;
    memcpy(dst, src, n);
    dst[n] = '\0';
}

// ereport(ERROR) with the given SQLSTATE (5 characters) and separate DETAIL
// and HINT (empty: none). Never returns.
[[noreturn]] void raise_error(const char* message, const char* sqlstate, const char* detail, const char* hint);

template <typename F>
void pg_guard(F&& body) {
    MemoryContext ctx = CurrentMemoryContext;
    char *message = nullptr, *detail = nullptr, *hint = nullptr;
    int code = 0;
    bool failed = false;
    auto call = [&]() noexcept { body(); };
    {
        PgStackGuard stacks;
        PG_TRY();
        {
            call();
        }
        PG_CATCH();
        {
            stacks.restore();
            capture_pg_error(ctx, &message, &detail, &hint, &code);
            failed = true;
        }
        PG_END_TRY();
    }
    if (failed) throw_pg_error(code, message, detail, hint);
}

// Runs `body` (returning Datum); converts any C++ exception to ereport(ERROR).
// The error text is copied to stack buffers inside the catch, and ereport is
// called only after every C++ object of the body has been destroyed and the
// error stacks are back as they were on entry.
template <typename F>
Datum invoke_cpp(F&& body) {
    char message[4096];
    char detail[2048] = "";
    char hint[1024] = "";
    char sqlstate[6] = "XX000";
    {
        PgStackGuard stacks;
        try {
            return body();
        } catch (const bgupdate::Error& e) {
            copy_text(message, sizeof message, e.what());
            copy_text(sqlstate, sizeof sqlstate, e.sqlstate().c_str());
            copy_text(detail, sizeof detail, e.detail().c_str());
            copy_text(hint, sizeof hint, e.hint().c_str());
        } catch (const std::exception& e) {
            copy_text(message, sizeof message, e.what());
        } catch (...) {
            copy_text(message, sizeof message, "unknown C++ exception");
        }
    }
    raise_error(message, sqlstate, detail, hint);
}

}  // namespace bgupdate_pg
