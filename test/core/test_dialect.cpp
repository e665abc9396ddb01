// Dialect: identifier quoting, literals and table qualification per engine.
#include <gtest/gtest.h>

#include <string>

#include "dialect.h"
#include "errors.h"

using bgupdate::Dialect;

namespace {

const Dialect pg(Dialect::Kind::Postgres);
const Dialect lite(Dialect::Kind::Sqlite);

}  // namespace

TEST(Dialect, QuotesIdentifiers) {
    for (const Dialect* d : {&pg, &lite}) {
        EXPECT_EQ(d->ident("users"), "\"users\"");
        EXPECT_EQ(d->ident("Mixed Case"), "\"Mixed Case\"");
        EXPECT_EQ(d->ident("a\"b"), "\"a\"\"b\"");
        EXPECT_EQ(d->ident("\""), "\"\"\"\"");
        EXPECT_EQ(d->ident("x'; DROP TABLE t; --"), "\"x'; DROP TABLE t; --\"");
    }
}

TEST(Dialect, RejectsEmptyIdentifier) {
    for (const Dialect* d : {&pg, &lite}) {
        try {
            d->ident("");
            FAIL() << "empty identifier accepted";
        } catch (const bgupdate::Error& e) {
            EXPECT_EQ(e.kind(), bgupdate::ErrorKind::BadInput);
        }
    }
}

TEST(Dialect, RejectsNulInIdentifier) {
    EXPECT_THROW(pg.ident(std::string("a\0b", 3)), bgupdate::Error);
    EXPECT_THROW(lite.ident(std::string("a\0b", 3)), bgupdate::Error);
}

TEST(Dialect, TextLiterals) {
    for (const Dialect* d : {&pg, &lite}) {
        EXPECT_EQ(d->literal(std::string("plain")), "'plain'");
        EXPECT_EQ(d->literal(std::string("")), "''");
        EXPECT_EQ(d->literal(std::string("it's")), "'it''s'");
        EXPECT_EQ(d->literal(std::string("''")), "''''''");
    }
}

TEST(Dialect, BackslashesInLiterals) {
    // PostgreSQL: E'' form with the backslash doubled; SQLite: backslash is plain.
    EXPECT_EQ(pg.literal(std::string("a\\b")), "E'a\\\\b'");
    EXPECT_EQ(pg.literal(std::string("it's \\")), "E'it''s \\\\'");
    EXPECT_EQ(lite.literal(std::string("a\\b")), "'a\\b'");
}

TEST(Dialect, ValueLiterals) {
    using bgupdate::Value;
    for (const Dialect* d : {&pg, &lite}) {
        EXPECT_EQ(d->literal(Value::null()), "NULL");
        EXPECT_EQ(d->literal(Value::of(int64_t{-42})), "-42");
        EXPECT_EQ(d->literal(Value::of(std::string("o'k"))), "'o''k'");
        EXPECT_EQ(d->literal(int64_t{9007199254740993}), "9007199254740993");
    }
}

TEST(Dialect, TableQualification) {
    EXPECT_EQ(pg.table("users"), "\"users\"");
    EXPECT_EQ(pg.table("app.users"), "\"app\".\"users\"");
    EXPECT_EQ(pg.schema_prefix_of("app.users"), "\"app\".");
    EXPECT_EQ(pg.schema_prefix_of("users"), "");
    // SQLite: the whole text is one name.
    EXPECT_EQ(lite.table("app.users"), "\"app.users\"");
    EXPECT_EQ(lite.schema_prefix_of("app.users"), "");
    EXPECT_THROW(pg.table(""), bgupdate::Error);
    EXPECT_THROW(lite.table(""), bgupdate::Error);
}

TEST(Dialect, OwnTables) {
    // Synapse's queue table keeps its name so Synapse deltas work unchanged.
    EXPECT_EQ(lite.own(bgupdate::OwnTable::Queue), "background_updates");
    EXPECT_EQ(pg.own(bgupdate::OwnTable::Queue), "bgupdate.background_updates");
    EXPECT_EQ(lite.own(bgupdate::OwnTable::AppliedDeltas), "applied_schema_deltas");
}

TEST(Dialect, Join) {
    EXPECT_EQ(bgupdate::join({}, ", "), "");
    EXPECT_EQ(bgupdate::join({"\"a\""}, ", "), "\"a\"");
    EXPECT_EQ(bgupdate::join({"\"a\"", "\"b\""}, ", "), "\"a\", \"b\"");
}
