// Error types of the core. Engine bindings translate engine errors into these
// (and these back into engine errors at every SQL-callable entry point).
#pragma once

#include <stdexcept>
#include <string>

namespace bgupdate {

enum class ErrorKind {
    BadInput,     // the user's arguments or data are wrong: never retried automatically
    LockTimeout,  // a lock could not be had in time: retried later, not counted as a failure
    Integrity,    // a constraint rejected the work (used by validate-and-delete to rescan)
    Failure,      // anything else that went wrong while running a batch
};

class Error : public std::runtime_error {
public:
    Error(ErrorKind kind, const std::string& message, std::string sqlstate = "")
        : std::runtime_error(message), kind_(kind), sqlstate_(std::move(sqlstate)) {}
    ErrorKind kind() const { return kind_; }
    // SQLSTATE to report (PostgreSQL); empty means "pick one from the kind".
    const std::string& sqlstate() const { return sqlstate_; }

private:
    ErrorKind kind_;
    std::string sqlstate_;
};

[[noreturn]] inline void bad_input(const std::string& message) {
    throw Error(ErrorKind::BadInput, message);
}

}  // namespace bgupdate
