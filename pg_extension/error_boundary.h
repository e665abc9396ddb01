// The boundary between PostgreSQL's error handling (longjmp) and C++
// exceptions. Two rules, applied everywhere in pg_extension/:
//   1. PostgreSQL calls that may ereport run inside pg_guard(): the error is
//      copied, the error state flushed, and a bgupdate::Error thrown after
//      the PG_TRY frame is gone. The guarded lambda must not create C++
//      objects with destructors (a longjmp would skip them).
//   2. Every SQL-callable entry runs its C++ body through invoke_cpp(): any
//      exception becomes ereport(ERROR) once the C++ frames have unwound.
// Model: pg_duckdb's PostgresFunctionGuard / InvokeCPPFunc (read, not copied).
#pragma once

#include <string>

#include "errors.h"
#include "pg_headers.h"

namespace bgupdate_pg {

// An error caught from PostgreSQL, as plain C++ data.
struct CaughtPgError {
    int sqlerrcode = 0;
    std::string message, detail, hint;
};

// Copies and flushes the current PostgreSQL error into `out` (C strings only;
// no allocation that could throw). Must be called from a PG_CATCH block.
void capture_pg_error(MemoryContext ctx, char** message, char** detail, char** hint, int* code);

// Maps a PostgreSQL error to the core's kinds: 55P03 lock timeout,
// class 23 integrity violation, everything else a failure.
[[noreturn]] void throw_pg_error(int sqlerrcode, const char* message, const char* detail, const char* hint);

// strncpy that always terminates.
inline void copy_text(char* dst, size_t size, const char* src) {
    size_t n = strlen(src);
    if (n >= size) n = size - 1;
    memcpy(dst, src, n);
    dst[n] = '\0';
}

// ereport(ERROR) with a SQLSTATE picked from the core's error kind when the
// error did not come from PostgreSQL with its own. Never returns.
[[noreturn]] void raise_error(const char* message, const char* sqlstate, int kind);

template <typename F>
void pg_guard(F&& body) {
    MemoryContext ctx = CurrentMemoryContext;
    char *message = nullptr, *detail = nullptr, *hint = nullptr;
    int code = 0;
    bool failed = false;
    // An exception escaping the body would unwind through the sigsetjmp
    // frame and leave PG_exception_stack pointing at it: stop it here.
    auto call = [&]() noexcept { body(); };
    PG_TRY();
    {
        call();
    }
    PG_CATCH();
    {
        capture_pg_error(ctx, &message, &detail, &hint, &code);
        failed = true;
    }
    PG_END_TRY();
    if (failed) throw_pg_error(code, message, detail, hint);
}

// Runs `body` (returning Datum); converts any C++ exception to ereport(ERROR).
// The error text is copied to stack buffers inside the catch, and ereport is
// called only after every C++ object of the body has been destroyed.
template <typename F>
Datum invoke_cpp(F&& body) {
    // Copied into plain buffers inside the catch (no allocation that could
    // ereport there); ereport runs after the exception is destroyed.
    char message[4096];
    char sqlstate[6] = "";
    int kind = -1;
    try {
        return body();
    } catch (const bgupdate::Error& e) {
        copy_text(message, sizeof message, e.what());
        copy_text(sqlstate, sizeof sqlstate, e.sqlstate().c_str());
        kind = static_cast<int>(e.kind());
    } catch (const std::exception& e) {
        copy_text(message, sizeof message, e.what());
    } catch (...) {
        copy_text(message, sizeof message, "unknown C++ exception");
    }
    raise_error(message, sqlstate[0] ? sqlstate : nullptr, kind);
}

}  // namespace bgupdate_pg
