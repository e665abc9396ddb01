#include "error_boundary.h"

namespace bgupdate_pg {

void capture_pg_error(MemoryContext ctx, char** message, char** detail, char** hint, int* code) noexcept {
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

static bgupdate::ErrorKind kind_of(int sqlerrcode) {
    using bgupdate::ErrorKind;
    switch (sqlerrcode) {
        case ERRCODE_LOCK_NOT_AVAILABLE: return ErrorKind::LockTimeout;
        case ERRCODE_INSUFFICIENT_PRIVILEGE: return ErrorKind::PermissionDenied;
        case ERRCODE_QUERY_CANCELED: return ErrorKind::Canceled;
        case ERRCODE_UNDEFINED_OBJECT: return ErrorKind::UndefinedObject;
        case ERRCODE_INVALID_PARAMETER_VALUE: return ErrorKind::BadInput;
        default: break;
    }
    if (ERRCODE_TO_CATEGORY(sqlerrcode) == ERRCODE_INTEGRITY_CONSTRAINT_VIOLATION) return ErrorKind::Integrity;
    return ErrorKind::Failure;
}

void throw_pg_error(int sqlerrcode, const char* message, const char* detail, const char* hint) {
    throw bgupdate::Error(kind_of(sqlerrcode), message ? message : "", unpack_sql_state(sqlerrcode),
                          detail ? detail : "", hint ? hint : "");
}

void raise_error(const char* message, const char* sqlstate, const char* detail, const char* hint) {
    int code = ERRCODE_INTERNAL_ERROR;
    if (sqlstate && strlen(sqlstate) == 5)
        code = MAKE_SQLSTATE(sqlstate[0], sqlstate[1], sqlstate[2], sqlstate[3], sqlstate[4]);
    ereport(ERROR, (errcode(code), errmsg("bgupdate: %s", message),
                    (detail && *detail) ? errdetail("%s", detail) : 0, (hint && *hint) ? errhint("%s", hint) : 0));
    pg_unreachable();
}

}  // namespace bgupdate_pg
