// split_statements: every construct in which a semicolon does not end a
// statement, on the engine(s) where it exists, and the errors for
// unterminated constructs.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "errors.h"
#include "statement_splitter.h"

using bgupdate::Dialect;
using bgupdate::split_statements;
using Strings = std::vector<std::string>;

namespace {

constexpr auto PG = Dialect::Kind::Postgres;
constexpr auto LITE = Dialect::Kind::Sqlite;

// The message of the BadInput error split_statements throws ("" if none).
std::string split_error(const std::string& sql, Dialect::Kind kind) {
    try {
        split_statements(sql, kind);
    } catch (const bgupdate::Error& e) {
        EXPECT_EQ(e.kind(), bgupdate::ErrorKind::BadInput);
        return e.what();
    }
    return "";
}

}  // namespace

TEST(StatementSplitter, SplitsAndTrims) {
    for (auto kind : {PG, LITE}) {
        EXPECT_EQ(split_statements("  CREATE TABLE a (x INT);\n\n  INSERT INTO a VALUES (1) ;  ", kind),
                  (Strings{"CREATE TABLE a (x INT)", "INSERT INTO a VALUES (1)"}));
    }
}

TEST(StatementSplitter, LastStatementNeedsNoSemicolon) {
    EXPECT_EQ(split_statements("SELECT 1;\nSELECT 2\n", LITE), (Strings{"SELECT 1", "SELECT 2"}));
}

TEST(StatementSplitter, DropsEmptyAndCommentOnlyStatements) {
    for (auto kind : {PG, LITE}) {
        EXPECT_EQ(split_statements("", kind), Strings{});
        EXPECT_EQ(split_statements(" ;; ;\n", kind), Strings{});
        EXPECT_EQ(split_statements("-- only a comment\n/* and another */;\n", kind), Strings{});
        EXPECT_EQ(split_statements("SELECT 1; -- trailing comment", kind), Strings{"SELECT 1"});
    }
}

TEST(StatementSplitter, LineCommentsHideSemicolonsAndQuotes) {
    for (auto kind : {PG, LITE}) {
        EXPECT_EQ(split_statements("-- header; with ' quote\nSELECT 1 -- it's; here\n, 2;", kind),
                  Strings{"SELECT 1 -- it's; here\n, 2"});
    }
}

TEST(StatementSplitter, BlockCommentsHideSemicolons) {
    for (auto kind : {PG, LITE}) {
        EXPECT_EQ(split_statements("/* a; 'b */ SELECT /* c; */ 1; SELECT 2", kind),
                  (Strings{"SELECT /* c; */ 1", "SELECT 2"}));
    }
}

TEST(StatementSplitter, PostgresNestsBlockComments) {
    EXPECT_EQ(split_statements("/* outer /* inner; */ still comment; */ SELECT 1;", PG), Strings{"SELECT 1"});
}

TEST(StatementSplitter, SqliteDoesNotNestBlockComments) {
    // SQLite ends the comment at the first */.
    EXPECT_EQ(split_statements("/* outer /* inner */ SELECT 1; SELECT 2;", LITE),
              (Strings{"SELECT 1", "SELECT 2"}));
}

TEST(StatementSplitter, StringsWithDoubledQuotes) {
    for (auto kind : {PG, LITE}) {
        EXPECT_EQ(split_statements("INSERT INTO t VALUES ('a;b', 'it''s; -- not a comment');SELECT '/*'", kind),
                  (Strings{"INSERT INTO t VALUES ('a;b', 'it''s; -- not a comment')", "SELECT '/*'"}));
    }
}

TEST(StatementSplitter, PostgresEscapeStrings) {
    // In E'' strings a backslash escapes the next character, a quote included.
    EXPECT_EQ(split_statements("SELECT E'a\\';b';SELECT e'\\\\';SELECT 3", PG),
              (Strings{"SELECT E'a\\';b'", "SELECT e'\\\\'", "SELECT 3"}));
}

TEST(StatementSplitter, BackslashIsPlainInStandardStrings) {
    EXPECT_EQ(split_statements("SELECT 'a\\';SELECT 2", PG), (Strings{"SELECT 'a\\'", "SELECT 2"}));
    EXPECT_EQ(split_statements("SELECT 'a\\';SELECT 2", LITE), (Strings{"SELECT 'a\\'", "SELECT 2"}));
    // A word ending in e before a quote is no E'' prefix.
    EXPECT_EQ(split_statements("SELECT some'\\';SELECT 2", PG), (Strings{"SELECT some'\\'", "SELECT 2"}));
}

TEST(StatementSplitter, QuotedIdentifiers) {
    for (auto kind : {PG, LITE}) {
        EXPECT_EQ(split_statements("CREATE TABLE \"we;ird\"\"name\" (\"a'b\" INT); SELECT 1", kind),
                  (Strings{"CREATE TABLE \"we;ird\"\"name\" (\"a'b\" INT)", "SELECT 1"}));
    }
}

TEST(StatementSplitter, SqliteBacktickAndBracketIdentifiers) {
    EXPECT_EQ(split_statements("SELECT `a;b`, [c;d] FROM t; SELECT 2", LITE),
              (Strings{"SELECT `a;b`, [c;d] FROM t", "SELECT 2"}));
}

TEST(StatementSplitter, PostgresDollarQuoting) {
    const std::string fn =
        "CREATE FUNCTION f() RETURNS trigger LANGUAGE plpgsql AS $$\n"
        "BEGIN\n  NEW.x := 'a;b';\n  RETURN NEW;\nEND;\n$$";
    EXPECT_EQ(split_statements(fn + ";\nSELECT 1;", PG), (Strings{fn, "SELECT 1"}));
}

TEST(StatementSplitter, PostgresTaggedDollarQuotesNest) {
    const std::string fn =
        "DO $outer$ BEGIN EXECUTE $q$ SELECT ';' $q$; PERFORM $$ $inner$ ; $$; END $outer$";
    EXPECT_EQ(split_statements(fn + "; SELECT 2", PG), (Strings{fn, "SELECT 2"}));
}

TEST(StatementSplitter, PostgresPositionalParameterIsNoDollarQuote) {
    EXPECT_EQ(split_statements("PREPARE p AS SELECT $1; SELECT a$b$ FROM t; SELECT 3", PG),
              (Strings{"PREPARE p AS SELECT $1", "SELECT a$b$ FROM t", "SELECT 3"}));
}

TEST(StatementSplitter, SqliteHasNoDollarQuoting) {
    EXPECT_EQ(split_statements("SELECT $$; SELECT 2", LITE), (Strings{"SELECT $$", "SELECT 2"}));
}

TEST(StatementSplitter, SqliteTriggerBody) {
    const std::string trig =
        "CREATE TRIGGER t_ins AFTER INSERT ON t\n"
        "BEGIN\n"
        "  UPDATE counts SET n = n + 1;\n"
        "  INSERT INTO log VALUES ('end;');\n"
        "END";
    EXPECT_EQ(split_statements(trig + ";\nSELECT 1;", LITE), (Strings{trig, "SELECT 1"}));
}

TEST(StatementSplitter, SqliteTempTriggerWithCaseInsideBody) {
    const std::string trig =
        "create temp trigger if not exists t_upd before update on t for each row\n"
        "when case when new.x > 0 then 1 else 0 end\n"
        "begin\n"
        "  update t set y = case when new.x > 1 then 'big' else 'small' end where id = new.id;\n"
        "  select case new.x when 0 then raise(abort, 'zero') end;\n"
        "end";
    EXPECT_EQ(split_statements(trig + "; INSERT INTO t VALUES (1);", LITE),
              (Strings{trig, "INSERT INTO t VALUES (1)"}));
    const std::string temporary = "CREATE TEMPORARY TRIGGER x AFTER DELETE ON t BEGIN DELETE FROM u; END";
    EXPECT_EQ(split_statements(temporary + ";SELECT 2", LITE), (Strings{temporary, "SELECT 2"}));
}

TEST(StatementSplitter, TransactionBeginIsNoBlock) {
    for (auto kind : {PG, LITE}) {
        EXPECT_EQ(split_statements("BEGIN; SELECT CASE WHEN 1 THEN 2 END; END;", kind),
                  (Strings{"BEGIN", "SELECT CASE WHEN 1 THEN 2 END", "END"}));
    }
}

TEST(StatementSplitter, PostgresBeginAtomicFunctionBody) {
    const std::string fn =
        "CREATE OR REPLACE FUNCTION f() RETURNS int LANGUAGE sql\n"
        "BEGIN ATOMIC\n  INSERT INTO t VALUES (1);\n  SELECT 2;\nEND";
    EXPECT_EQ(split_statements(fn + ";SELECT 3", PG), (Strings{fn, "SELECT 3"}));
}

TEST(StatementSplitter, CrLfLineEndings) {
    EXPECT_EQ(split_statements("SELECT 1;\r\n-- c\r\nSELECT 2;\r\n", LITE), (Strings{"SELECT 1", "SELECT 2"}));
}

TEST(StatementSplitter, UnterminatedStringNamesItsLine) {
    for (auto kind : {PG, LITE}) {
        const std::string msg = split_error("SELECT 1;\nSELECT 2;\nSELECT 'oops;\nmore", kind);
        EXPECT_NE(msg.find("unterminated string"), std::string::npos) << msg;
        EXPECT_NE(msg.find("line 3"), std::string::npos) << msg;
    }
    // A doubled quote at the very end is an escaped quote, not a closing one.
    EXPECT_NE(split_error("SELECT 'abc''", LITE).find("line 1"), std::string::npos);
}

TEST(StatementSplitter, UnterminatedEscapeStringNamesItsLine) {
    const std::string msg = split_error("\nSELECT E'a\\'", PG);
    EXPECT_NE(msg.find("unterminated string"), std::string::npos) << msg;
    EXPECT_NE(msg.find("line 2"), std::string::npos) << msg;
}

TEST(StatementSplitter, UnterminatedIdentifierNamesItsLine) {
    for (auto kind : {PG, LITE}) {
        const std::string msg = split_error("SELECT 1;\n\n\nSELECT \"abc FROM t;", kind);
        EXPECT_NE(msg.find("identifier"), std::string::npos) << msg;
        EXPECT_NE(msg.find("line 4"), std::string::npos) << msg;
    }
}

TEST(StatementSplitter, UnterminatedCommentNamesItsLine) {
    for (auto kind : {PG, LITE}) {
        const std::string msg = split_error("SELECT 1;\n/* never\nclosed;\n", kind);
        EXPECT_NE(msg.find("comment"), std::string::npos) << msg;
        EXPECT_NE(msg.find("line 2"), std::string::npos) << msg;
    }
    // Nested on PostgreSQL: one */ leaves the outer comment open.
    EXPECT_NE(split_error("/* a /* b */ SELECT 1;", PG).find("line 1"), std::string::npos);
    EXPECT_EQ(split_error("/* a /* b */ SELECT 1;", LITE), "");
}

TEST(StatementSplitter, UnterminatedDollarQuoteNamesItsLine) {
    const std::string msg = split_error("SELECT 1;\nDO $body$ BEGIN END $$;", PG);
    EXPECT_NE(msg.find("dollar"), std::string::npos) << msg;
    EXPECT_NE(msg.find("line 2"), std::string::npos) << msg;
}

TEST(StatementSplitter, UnterminatedTriggerBodyNamesItsLine) {
    const std::string msg = split_error("SELECT 1;\nCREATE TRIGGER x AFTER INSERT ON t\nBEGIN\nSELECT 1;\n", LITE);
    EXPECT_NE(msg.find("line 3"), std::string::npos) << msg;
}

TEST(StatementSplitter, LineNumbersCountNewlinesInsideSkippedConstructs) {
    const std::string msg = split_error("SELECT 'a\nb';\n/* c\n */ SELECT \"d\ne\";\n-- f\nSELECT 'g", LITE);
    EXPECT_NE(msg.find("line 7"), std::string::npos) << msg;
    const std::string pg = split_error("DO $$\n\n$$;\nSELECT E'\\\n';\nSELECT 'x", PG);
    EXPECT_NE(pg.find("line 6"), std::string::npos) << pg;
}
