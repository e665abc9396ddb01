#include "error_boundary.h"

namespace bgupdate_pg {

void capture_pg_error(MemoryContext ctx, char** message, char** detail, char** hint, int* code) {
    // CopyErrorData must not run in ErrorContext; the copy lives in ctx until
    // throw_pg_error turns it into std::strings.
    MemoryContextSwitchTo(ctx);
    ErrorData* edata = CopyErrorData();
    FlushErrorState();
    *message = edata->message ? edata->message : pstrdup("unknown PostgreSQL error");
    *detail = edata->detail;
    *hint = edata->hint;
    *code = edata->sqlerrcode;
}

static std::string sqlstate_text(int code) { return unpack_sql_state(code); }

void throw_pg_error(int sqlerrcode, const char* message, const char* detail, const char* hint) {
    std::string text = message ? message : "";
    if (detail && *detail) text += std::string(" (") + detail + ")";
    if (hint && *hint) text += std::string(" HINT: ") + hint;
    std::string state = sqlstate_text(sqlerrcode);
    bgupdate::ErrorKind kind = bgupdate::ErrorKind::Failure;
    if (sqlerrcode == ERRCODE_LOCK_NOT_AVAILABLE)
        kind = bgupdate::ErrorKind::LockTimeout;
    else if (ERRCODE_TO_CATEGORY(sqlerrcode) == ERRCODE_INTEGRITY_CONSTRAINT_VIOLATION)
        kind = bgupdate::ErrorKind::Integrity;
    throw bgupdate::Error(kind, text, state);
}

void raise_error(const char* message, const char* sqlstate, int kind) {
    int code = ERRCODE_INTERNAL_ERROR;
    if (sqlstate && strlen(sqlstate) == 5) {
        code = MAKE_SQLSTATE(sqlstate[0], sqlstate[1], sqlstate[2], sqlstate[3], sqlstate[4]);
    } else {
        switch (static_cast<bgupdate::ErrorKind>(kind)) {
            case bgupdate::ErrorKind::BadInput: code = ERRCODE_INVALID_PARAMETER_VALUE; break;
            case bgupdate::ErrorKind::LockTimeout: code = ERRCODE_LOCK_NOT_AVAILABLE; break;
            case bgupdate::ErrorKind::Integrity: code = ERRCODE_INTEGRITY_CONSTRAINT_VIOLATION; break;
            case bgupdate::ErrorKind::Failure: code = ERRCODE_EXTERNAL_ROUTINE_EXCEPTION; break;
        }
        if (kind < 0) code = ERRCODE_INTERNAL_ERROR;
    }
    ereport(ERROR, (errcode(code), errmsg("bgupdate: %s", message)));
    pg_unreachable();
}

}  // namespace bgupdate_pg
