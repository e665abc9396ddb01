// A small scanner that walks a delta once, skipping over every construct in
// which a semicolon does not end a statement: comments, strings, quoted
// identifiers, dollar quotes and BEGIN ... END blocks of trigger (SQLite) or
// BEGIN ATOMIC function (PostgreSQL) bodies.
#include "statement_splitter.h"

#include <cctype>
#include <cstddef>
#include <string>
#include <vector>

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

std::string upper(std::string s) {
    for (char& c : s) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    return s;
}

class Splitter {
public:
    Splitter(const std::string& sql, Dialect::Kind kind) : sql_(sql), pg_(kind == Dialect::Kind::Postgres) {}

    std::vector<std::string> run() {
        while (pos_ < sql_.size()) step();
        if (depth_ > 0) unterminated("BEGIN ... END block", block_line_);
        finish_statement();
        return out_;
    }

private:
    static constexpr std::size_t npos = std::string::npos;

    const std::string& sql_;
    const bool pg_;
    std::size_t pos_ = 0;
    int line_ = 1;
    std::vector<std::string> out_;

    // The statement being read: where its first and last code characters
    // are (comments around it are dropped), its first words (to recognise
    // statements with BEGIN ... END bodies) and how deep in such a body we are.
    std::size_t code_begin_ = npos, code_end_ = 0;
    std::vector<std::string> head_;
    int depth_ = 0;
    int block_line_ = 0;

    char at(std::size_t i) const { return i < sql_.size() ? sql_[i] : '\0'; }

    void step() {
        const std::size_t start = pos_;
        const char c = sql_[pos_], next = at(pos_ + 1);
        if (c == '\n') {
            ++line_;
            ++pos_;
        } else if (std::isspace(static_cast<unsigned char>(c))) {
            ++pos_;
        } else if (c == '-' && next == '-') {
            while (pos_ < sql_.size() && sql_[pos_] != '\n') ++pos_;
        } else if (c == '/' && next == '*') {
            skip_block_comment();
        } else if (c == ';' && depth_ == 0) {
            finish_statement();
            ++pos_;
        } else {
            if (c == '\'') {
                skip_quoted('\'', false, "string");
            } else if (c == '"') {
                skip_quoted('"', false, "quoted identifier");
            } else if (!pg_ && c == '`') {
                skip_quoted('`', false, "quoted identifier");
            } else if (!pg_ && c == '[') {
                skip_quoted(']', false, "quoted identifier");
            } else if (pg_ && c == '$' && dollar_tag_length() > 0) {
                skip_dollar_quote(dollar_tag_length());
            } else if (is_word_char(c)) {
                word();
            } else {
                ++pos_;
            }
            if (code_begin_ == npos) code_begin_ = start;
            code_end_ = pos_;
        }
    }

    // Block comments nest on PostgreSQL, not on SQLite.
    void skip_block_comment() {
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

    // From an opening quote to its closing one; a doubled closing quote is
    // part of the text, and so is any character after a backslash in a
    // PostgreSQL E'' string.
    void skip_quoted(char close, bool backslash_escapes, const char* what) {
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
    std::size_t dollar_tag_length() const {
        std::size_t end = pos_ + 1;
        if (is_tag_start(at(end))) {
            while (end < sql_.size() && is_word_char(sql_[end]) && sql_[end] != '$') ++end;
        }
        return at(end) == '$' ? end + 1 - pos_ : 0;
    }

    void skip_dollar_quote(std::size_t tag_length) {
        const std::string tag = sql_.substr(pos_, tag_length);
        const std::size_t close = sql_.find(tag, pos_ + tag_length);
        if (close == npos) unterminated("dollar-quoted string " + tag, line_);
        for (std::size_t i = pos_; i < close; ++i)
            if (sql_[i] == '\n') ++line_;
        pos_ = close + tag_length;
    }

    void word() {
        const std::size_t start = pos_;
        while (pos_ < sql_.size() && is_word_char(sql_[pos_])) ++pos_;
        const std::string w = upper(sql_.substr(start, pos_ - start));
        if (pg_ && w == "E" && at(pos_) == '\'') {  // E'...' escape string
            skip_quoted('\'', true, "string");
            return;
        }
        if (head_.size() < 4) head_.push_back(w);
        if (!in_block_statement()) return;
        if (w == "BEGIN" || w == "CASE") {
            if (depth_++ == 0) block_line_ = line_;
        } else if (w == "END" && depth_ > 0) {
            --depth_;
        }
    }

    // SQLite: CREATE [TEMP|TEMPORARY] TRIGGER; PostgreSQL:
    // CREATE [OR REPLACE] FUNCTION|PROCEDURE (a BEGIN ATOMIC body).
    bool in_block_statement() const {
        std::size_t i = 0;
        auto is = [&](const char* w) { return i < head_.size() && head_[i] == w; };
        if (!is("CREATE")) return false;
        ++i;
        if (pg_) {
            if (is("OR")) i += 2;
            return is("FUNCTION") || is("PROCEDURE");
        }
        if (is("TEMP") || is("TEMPORARY")) ++i;
        return is("TRIGGER");
    }

    void finish_statement() {
        if (code_begin_ != npos) out_.push_back(sql_.substr(code_begin_, code_end_ - code_begin_));
        code_begin_ = npos;
        code_end_ = 0;
        head_.clear();
        depth_ = 0;
    }

    [[noreturn]] void unterminated(const std::string& what, int line) const {
        bad_input("statement splitter: unterminated " + what + " starting on line " + std::to_string(line));
    }
};

}  // namespace

std::vector<std::string> split_statements(const std::string& sql, Dialect::Kind kind) {
    return Splitter(sql, kind).run();
}

}  // namespace bgupdate
