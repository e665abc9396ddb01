// Walks a delta's tokens once (sql_lexer skips comments, strings, quoted
// identifiers and dollar quotes, in which a semicolon ends nothing) and
// tracks the BEGIN ... END blocks of trigger (SQLite) or BEGIN ATOMIC
// function (PostgreSQL) bodies.
#include "statement_splitter.h"

#include <cstddef>
#include <string>
#include <vector>

#include "sql_lexer.h"

namespace bgupdate {
namespace {

class Splitter {
public:
    Splitter(const std::string& sql, Dialect::Kind kind)
        : sql_(sql), pg_(kind == Dialect::Kind::Postgres), lex_(sql, kind, "statement splitter: ") {}

    std::vector<std::string> run() {
        while (!lex_.done()) step();
        if (depth_ > 0) lex_.unterminated("BEGIN ... END block", block_line_);
        finish_statement();
        return out_;
    }

private:
    static constexpr std::size_t npos = std::string::npos;

    const std::string& sql_;
    const bool pg_;
    SqlLexer lex_;
    std::vector<std::string> out_;

    // The statement being read: where its first and last code characters
    // are (comments around it are dropped), its first words (to recognise
    // statements with BEGIN ... END bodies) and how deep in such a body we are.
    std::size_t code_begin_ = npos, code_end_ = 0;
    std::vector<std::string> head_;
    int depth_ = 0;
    int block_line_ = 0;

    void step() {
        const SqlToken t = lex_.next();
        using K = SqlToken::Kind;
        if (t.kind == K::Space || t.kind == K::Comment) return;
        if (t.kind == K::Symbol && sql_[t.begin] == ';' && depth_ == 0) {
            finish_statement();
            return;
        }
        if (t.kind == K::Word) word(t);
        if (code_begin_ == npos) code_begin_ = t.begin;
        code_end_ = t.end;
    }

    void word(const SqlToken& t) {
        const std::string w = lex_.upper(t);
        if (head_.size() < 4) head_.push_back(w);
        if (!in_block_statement()) return;
        if (w == "BEGIN" || w == "CASE") {
            if (depth_++ == 0) block_line_ = t.line;
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
};

}  // namespace

std::vector<std::string> split_statements(const std::string& sql, Dialect::Kind kind) {
    return Splitter(sql, kind).run();
}

}  // namespace bgupdate
