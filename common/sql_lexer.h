// Tokens of SQL text as PostgreSQL or SQLite reads them, as far as needed to
// know where a statement or a fragment ends: comments, strings, quoted
// identifiers, PostgreSQL dollar quotes, words and single characters. Used by
// the statement splitter (schema deltas) and the fragment check (user SQL
// pasted into statements the core composes).
#pragma once

#include <cstddef>
#include <string>

#include "dialect.h"

namespace bgupdate {

struct SqlToken {
    enum class Kind { Space, Comment, String, QuotedIdentifier, DollarQuote, Word, Symbol };
    Kind kind;
    std::size_t begin, end;  // [begin, end) in the text
    int line;                // where the token begins (1-based)
};

class SqlLexer {
public:
    // `error_prefix` starts the BadInput message of an unterminated construct.
    SqlLexer(const std::string& sql, Dialect::Kind kind, std::string error_prefix);
    bool done() const { return pos_ >= sql_.size(); }
    // The next token; throws BadInput on an unterminated string, identifier,
    // comment or dollar quote (naming the line it began on).
    SqlToken next();
    // Upper-cased text of a token.
    std::string upper(const SqlToken& t) const;
    [[noreturn]] void unterminated(const std::string& what, int line) const;

private:
    char at(std::size_t i) const { return i < sql_.size() ? sql_[i] : '\0'; }
    void skip_block_comment();
    void skip_quoted(char close, bool backslash_escapes, const char* what);
    std::size_t dollar_tag_length() const;
    void skip_dollar_quote(std::size_t tag_length);

    const std::string& sql_;
    const bool pg_;
    std::string error_prefix_;
    std::size_t pos_ = 0;
    int line_ = 1;
};

}  // namespace bgupdate
