// Error types of the core. Engine bindings translate engine errors into these
// (and these back into engine errors at every SQL-callable entry point).
#pragma once

#include <stdexcept>
#include <string>

namespace bgupdate {

// Each kind has one SQLSTATE (error_sqlstate) unless the error carries the
// engine's own; a driver or the CLI can branch on it.
enum class ErrorKind {
    BadInput,          // 22023 the user's arguments or data are wrong: never retried automatically
    UndefinedObject,   // 42704 the update, table or function named does not exist
    PermissionDenied,  // 42501 the caller may not act on this update
    LockTimeout,       // 55P03 a lock could not be had in time: retried later, not counted as a failure
    Canceled,          // 57014 a cancel request (or a caller's own statement_timeout)
    StatementTimeout,  // 57014 a batch statement ran past statement_timeout_ms: retried smaller
    Integrity,         // 23000 a constraint rejected the work (used by validate-and-delete to rescan)
    NotNow,            // 55000 object not in prerequisite state: refused now (re-entrant finish, failed update)
    Failure,           // 38000 anything else that went wrong while running a batch
};

// The SQLSTATE a kind is reported with when the error has none of its own.
const char* error_sqlstate(ErrorKind kind);

class Error : public std::runtime_error {
public:
    Error(ErrorKind kind, const std::string& message, std::string sqlstate = "", std::string detail = "",
          std::string hint = "")
        : std::runtime_error(message),
          kind_(kind),
          sqlstate_(std::move(sqlstate)),
          detail_(std::move(detail)),
          hint_(std::move(hint)) {}
    ErrorKind kind() const { return kind_; }
    // SQLSTATE to report: the engine's own when it gave one, else the kind's.
    std::string sqlstate() const { return sqlstate_.empty() ? error_sqlstate(kind_) : sqlstate_; }
    // The engine's DETAIL and HINT, kept apart from the message.
    const std::string& detail() const { return detail_; }
    const std::string& hint() const { return hint_; }

private:
    ErrorKind kind_;
    std::string sqlstate_, detail_, hint_;
};

// The caller of a session's step(), run() or finish() asked to stop (a
// cancel request, or its own statement_timeout): the batch is rolled back and
// the call ends with this error; it is not a failure of the update.
class CallerCancel : public Error {
public:
    using Error::Error;
};

inline const char* error_sqlstate(ErrorKind kind) {
    switch (kind) {
        case ErrorKind::BadInput: return "22023";
        case ErrorKind::UndefinedObject: return "42704";
        case ErrorKind::PermissionDenied: return "42501";
        case ErrorKind::LockTimeout: return "55P03";
        case ErrorKind::Canceled: return "57014";
        case ErrorKind::StatementTimeout: return "57014";
        case ErrorKind::Integrity: return "23000";
        case ErrorKind::NotNow: return "55000";
        case ErrorKind::Failure: return "38000";
    }
    return "XX000";
}

[[noreturn]] inline void bad_input(const std::string& message) {
    throw Error(ErrorKind::BadInput, message);
}

[[noreturn]] inline void fail(ErrorKind kind, const std::string& message, const std::string& hint = "") {
    throw Error(kind, message, "", "", hint);
}

}  // namespace bgupdate
