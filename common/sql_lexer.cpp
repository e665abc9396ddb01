#include "sql_lexer.h"

#include <cctype>

#include "errors.h"

namespace bgupdate {
namespace {

bool is_word_char(char c) {
    const auto u = static_cast<unsigned char>(c);
    return std::isalnum(u) || c == '_' || c == '$' || u >= 0x80;
}

bool is_tag_start(char c) {
    const auto u = static_cast<unsigned char>(c);
    return std::isalpha(u) || c == '_' || u >= 0x80;
}

}  // namespace

SqlLexer::SqlLexer(const std::string& sql, Dialect::Kind kind, std::string error_prefix)
    : sql_(sql), pg_(kind == Dialect::Kind::Postgres), error_prefix_(std::move(error_prefix)) {}

std::string SqlLexer::upper(const SqlToken& t) const {
    std::string s = sql_.substr(t.begin, t.end - t.begin);
    for (char& c : s) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    return s;
}

SqlToken SqlLexer::next() {
    using K = SqlToken::Kind;
    const std::size_t start = pos_;
    const int line = line_;
    const char c = sql_[pos_], n = at(pos_ + 1);
    K kind;
    if (std::isspace(static_cast<unsigned char>(c))) {
        while (pos_ < sql_.size() && std::isspace(static_cast<unsigned char>(sql_[pos_]))) {
            if (sql_[pos_] == '\n') ++line_;
            ++pos_;
        }
        kind = K::Space;
    } else if (c == '-' && n == '-') {
        while (pos_ < sql_.size() && sql_[pos_] != '\n') ++pos_;
        kind = K::Comment;
    } else if (c == '/' && n == '*') {
        skip_block_comment();
        kind = K::Comment;
    } else if (c == '\'') {
        skip_quoted('\'', false, "string");
        kind = K::String;
    } else if (c == '"') {
        skip_quoted('"', false, "quoted identifier");
        kind = K::QuotedIdentifier;
    } else if (!pg_ && c == '`') {
        skip_quoted('`', false, "quoted identifier");
        kind = K::QuotedIdentifier;
    } else if (!pg_ && c == '[') {
        skip_quoted(']', false, "quoted identifier");
        kind = K::QuotedIdentifier;
    } else if (pg_ && c == '$' && dollar_tag_length() > 0) {
        skip_dollar_quote(dollar_tag_length());
        kind = K::DollarQuote;
    } else if (is_word_char(c)) {
        while (pos_ < sql_.size() && is_word_char(sql_[pos_])) ++pos_;
        kind = K::Word;
        if (pg_ && pos_ == start + 1 && (c == 'E' || c == 'e') && at(pos_) == '\'') {  // E'...' escape string
            skip_quoted('\'', true, "string");
            kind = K::String;
        }
    } else {
        ++pos_;
        kind = K::Symbol;
    }
    return SqlToken{kind, start, pos_, line};
}

// Block comments nest on PostgreSQL, not on SQLite.
void SqlLexer::skip_block_comment() {
    const int begin_line = line_;
    int nesting = 0;
    do {
        if (pos_ + 1 >= sql_.size()) unterminated("comment", begin_line);
        if (sql_[pos_] == '/' && sql_[pos_ + 1] == '*') {
            ++nesting;
            pos_ += 2;
            if (!pg_ && nesting > 1) nesting = 1;
        } else if (sql_[pos_] == '*' && sql_[pos_ + 1] == '/') {
            --nesting;
            pos_ += 2;
        } else {
            if (sql_[pos_] == '\n') ++line_;
            ++pos_;
        }
    } while (nesting > 0);
}

// From an opening quote to its closing one; a doubled closing quote is part
// of the text, and so is any character after a backslash in a PostgreSQL E''
// string.
void SqlLexer::skip_quoted(char close, bool backslash_escapes, const char* what) {
    const int begin_line = line_;
    for (++pos_;; ++pos_) {
        if (pos_ >= sql_.size()) unterminated(what, begin_line);
        const char c = sql_[pos_];
        if (c == '\n') {
            ++line_;
        } else if (backslash_escapes && c == '\\') {
            if (at(pos_ + 1) == '\n') ++line_;
            ++pos_;
        } else if (c == close) {
            if (close != ']' && at(pos_ + 1) == close) {
                ++pos_;
            } else {
                ++pos_;
                return;
            }
        }
    }
}

// Length of the $$ or $tag$ at pos_; 0 when the $ starts no tag ($1).
std::size_t SqlLexer::dollar_tag_length() const {
    std::size_t end = pos_ + 1;
    if (is_tag_start(at(end))) {
        while (end < sql_.size() && is_word_char(sql_[end]) && sql_[end] != '$') ++end;
    }
    return at(end) == '$' ? end + 1 - pos_ : 0;
}

void SqlLexer::skip_dollar_quote(std::size_t tag_length) {
    const std::string tag = sql_.substr(pos_, tag_length);
    const std::size_t close = sql_.find(tag, pos_ + tag_length);
    if (close == std::string::npos) unterminated("dollar-quoted string " + tag, line_);
    for (std::size_t i = pos_; i < close; ++i)
        if (sql_[i] == '\n') ++line_;
    pos_ = close + tag_length;
}

void SqlLexer::unterminated(const std::string& what, int line) const {
    bad_input(error_prefix_ + "unterminated " + what + " starting on line " + std::to_string(line));
}

}  // namespace bgupdate
