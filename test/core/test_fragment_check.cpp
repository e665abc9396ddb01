// check_fragment_text: the lexical half of the fragment check (the engines'
// parsers do the other half). Every way a fragment could end the statement
// it is pasted into, or swallow what follows it, is refused on both engines.
#include <gtest/gtest.h>

#include <string>

#include "errors.h"
#include "fragment_check.h"

using bgupdate::Dialect;
using bgupdate::check_fragment_text;

namespace {

constexpr auto PG = Dialect::Kind::Postgres;
constexpr auto LITE = Dialect::Kind::Sqlite;

// The BadInput message for `fragment` ("" when it passes).
std::string problem(const std::string& fragment, Dialect::Kind kind) {
    try {
        check_fragment_text(fragment, "where_clause of 'x'", kind);
    } catch (const bgupdate::Error& e) {
        EXPECT_EQ(e.kind(), bgupdate::ErrorKind::BadInput);
        return e.what();
    }
    return "";
}

}  // namespace

TEST(FragmentCheck, AcceptsOrdinaryFragments) {
    for (auto kind : {PG, LITE}) {
        EXPECT_EQ(problem("v > 0", kind), "");
        EXPECT_EQ(problem("new_column = old_column * 100", kind), "");
        EXPECT_EQ(problem("a IN (1, 2, (3)) AND b = (SELECT max(c) FROM d WHERE e = f)", kind), "");
        EXPECT_EQ(problem("name = ';' OR name = '(' OR name = ')' OR \"odd;)(\" = 1", kind), "");
        EXPECT_EQ(problem("v = 1 -- a trailing comment; with ) and (", kind), "");
        EXPECT_EQ(problem("v = 1 /* ; ) */ + 2", kind), "");
        EXPECT_EQ(problem("v = 'it''s'", kind), "");
    }
    EXPECT_EQ(problem("v = $$;)$$ AND w = $tag$ ( $tag$", PG), "");
    EXPECT_EQ(problem("v = E'\\'; )'", PG), "");
    EXPECT_EQ(problem("v = [a;b)] AND `c;(` = 1", LITE), "");
    EXPECT_EQ(problem("v = 1 /* outer /* inner ; */ still ) comment */", PG), "");
}

TEST(FragmentCheck, RefusesASecondStatement) {
    for (auto kind : {PG, LITE}) {
        EXPECT_NE(problem("TRUE); DELETE FROM t WHERE id > 18; SELECT (1", kind), "");
        EXPECT_NE(problem("v > 0; BEGIN", kind).find("';'"), std::string::npos);
        EXPECT_NE(problem("v = 1;", kind), "");
        EXPECT_NE(problem("(SELECT 1; DELETE FROM t)", kind), "");
    }
}

TEST(FragmentCheck, RefusesEscapingItsParentheses) {
    for (auto kind : {PG, LITE}) {
        EXPECT_NE(problem("TRUE) OR (TRUE", kind).find("closes a parenthesis"), std::string::npos);
        EXPECT_NE(problem(") UNION SELECT 1 WHERE (1", kind), "");
        EXPECT_NE(problem("a = 1)", kind), "");
        EXPECT_NE(problem("(a = 1", kind).find("open"), std::string::npos);
        EXPECT_NE(problem("((a)", kind), "");
    }
    // A parenthesis inside a string or comment is not one.
    EXPECT_EQ(problem("a = ')' -- (", PG), "");
}

TEST(FragmentCheck, RefusesWhatWouldSwallowTheRest) {
    for (auto kind : {PG, LITE}) {
        EXPECT_NE(problem("v = 1 /* the key range is swallowed", kind).find("unterminated comment"), std::string::npos);
        EXPECT_NE(problem("v = 'unterminated", kind).find("unterminated string"), std::string::npos);
        EXPECT_NE(problem("v = \"unterminated", kind).find("unterminated quoted identifier"), std::string::npos);
    }
    EXPECT_NE(problem("v = $$ unterminated", PG).find("unterminated dollar-quoted string"), std::string::npos);
    EXPECT_NE(problem("v = [unterminated", LITE).find("unterminated quoted identifier"), std::string::npos);
    // A nested comment closed once is still open on PostgreSQL (comments nest there).
    EXPECT_NE(problem("v = 1 /* a /* b */", PG), "");
    EXPECT_EQ(problem("v = 1 /* a /* b */", LITE), "");
}

TEST(FragmentCheck, RefusesBackslashesWhoseMeaningDependsOnASetting) {
    // With standard_conforming_strings off this is a string, then a
    // parenthesis escape; with it on, one string: the lexer cannot know.
    EXPECT_NE(problem(R"(v = 'a\'' ) OR (TRUE OR v = ''')", PG).find("standard_conforming_strings"),
              std::string::npos);
    EXPECT_NE(problem(R"(v = 'C:\dir')", PG), "");
    EXPECT_EQ(problem(R"(v = E'C:\\dir')", PG), "");
    EXPECT_EQ(problem(R"(v = 'C:\dir')", LITE), "");  // SQLite has no such setting
}

TEST(FragmentCheck, RefusesEmptyAndNul) {
    for (auto kind : {PG, LITE}) {
        EXPECT_NE(problem("", kind).find("empty"), std::string::npos);
        EXPECT_NE(problem("  -- only a comment", kind).find("empty"), std::string::npos);
        EXPECT_NE(problem("/* only */ \n", kind).find("empty"), std::string::npos);
        EXPECT_NE(problem(std::string("v = 1\0; DROP", 12), kind).find("NUL"), std::string::npos);
    }
}

TEST(FragmentCheck, NamesTheFragment) {
    EXPECT_EQ(problem("a; b", PG).rfind("where_clause of 'x'", 0), 0u);
}

TEST(FragmentCheck, ComposesWithANewlineAndParentheses) {
    // A trailing line comment ends at the newline the composition adds.
    EXPECT_EQ(bgupdate::compose_set_list("v = 1 --"), "v = 1 --\n");
    EXPECT_EQ(bgupdate::compose_condition("v > 0 --"), "(\nv > 0 --\n)");
}
