#include "fragment_check.h"

#include "errors.h"
#include "sql_lexer.h"

namespace bgupdate {

void check_fragment_text(const std::string& fragment, const std::string& what, Dialect::Kind kind) {
    if (fragment.find('\0') != std::string::npos) bad_input(what + " contains a NUL byte");
    SqlLexer lex(fragment, kind, what + " has an ");
    int depth = 0;
    bool has_code = false;
    while (!lex.done()) {
        const SqlToken t = lex.next();
        if (t.kind == SqlToken::Kind::Space || t.kind == SqlToken::Kind::Comment) continue;
        has_code = true;
        // PostgreSQL reads a backslash in '...' as an escape when
        // standard_conforming_strings is off: where the string ends would
        // then depend on a session setting. E'...' says it either way.
        if (kind == Dialect::Kind::Postgres && t.kind == SqlToken::Kind::String && fragment[t.begin] == '\'' &&
            fragment.find('\\', t.begin) < t.end)
            bad_input(what + " has a backslash in a '...' string on line " + std::to_string(t.line) +
                      ", whose meaning depends on standard_conforming_strings: write it as E'...'");
        if (t.kind != SqlToken::Kind::Symbol) continue;
        const char c = fragment[t.begin];
        if (c == ';')
            bad_input(what + " must be a single SQL fragment, but has a ';' (a second statement) on line " +
                      std::to_string(t.line));
        if (c == '(') ++depth;
        if (c == ')' && --depth < 0)
            bad_input(what + " closes a parenthesis it did not open on line " + std::to_string(t.line) +
                      " (it may not escape the parentheses it is placed in)");
    }
    if (!has_code) bad_input(what + " is empty (only spaces or comments)");
    if (depth > 0) bad_input(what + " leaves " + std::to_string(depth) + " parenthesis(es) open");
}

}  // namespace bgupdate

namespace bgupdate {

void check_stored_fragment(Engine& engine, FragmentKind kind, const std::string& table, const std::string& fragment,
                           const std::string& what) {
    check_fragment_text(fragment, what, engine.dialect().kind());
    try {
        engine.check_fragment(kind, table, fragment);
    } catch (const Error& e) {
        if (e.kind() == ErrorKind::LockTimeout) throw;
        throw Error(ErrorKind::BadInput, what + " is not valid for table '" + table + "': " + e.what());
    }
}

}  // namespace bgupdate
