// Converting SQLite values by the PostgreSQL column's type, into COPY text.
#include <gtest/gtest.h>

#include "copy_values.h"
#include "errors.h"

using namespace bgupdate;

namespace {

std::string refusal(const SourceValue& v, TargetType t) {
    try {
        copy_field(v, t);
    } catch (const Error& e) {
        EXPECT_EQ(e.kind(), ErrorKind::BadInput);
        return e.what();
    }
    return "";
}

}  // namespace

TEST(CopyValues, TypeFromTheCatalog) {
    EXPECT_EQ(target_type_of("bool", 'B'), TargetType::Boolean);
    EXPECT_EQ(target_type_of("bytea", 'U'), TargetType::Bytea);
    EXPECT_EQ(target_type_of("int8", 'N'), TargetType::Integer);
    EXPECT_EQ(target_type_of("float8", 'N'), TargetType::Float);
    EXPECT_EQ(target_type_of("numeric", 'N'), TargetType::Numeric);
    EXPECT_EQ(target_type_of("money", 'N'), TargetType::Numeric);
    EXPECT_EQ(target_type_of("jsonb", 'U'), TargetType::Json);
    EXPECT_EQ(target_type_of("_text", 'A'), TargetType::Text);
    EXPECT_EQ(target_type_of("timestamptz", 'D'), TargetType::Text);
}

TEST(CopyValues, BooleansFromZeroAndOne) {
    EXPECT_EQ(copy_field(SourceValue::of(1), TargetType::Boolean), "t");
    EXPECT_EQ(copy_field(SourceValue::of(0), TargetType::Boolean), "f");
    EXPECT_EQ(copy_field(SourceValue::of(7), TargetType::Boolean), "t");  // non-zero, as SQLite reads it
    EXPECT_EQ(copy_field(SourceValue::text("TRUE"), TargetType::Boolean), "t");
    EXPECT_EQ(copy_field(SourceValue::text("f"), TargetType::Boolean), "f");
    EXPECT_EQ(copy_field(SourceValue::null(), TargetType::Boolean), "\\N");
    EXPECT_NE(refusal(SourceValue::text("maybe"), TargetType::Boolean).find("cannot store text 'maybe' in a boolean"),
              std::string::npos);
    EXPECT_NE(refusal(SourceValue::blob("\x01"), TargetType::Boolean), "");
}

TEST(CopyValues, ByteaAsEscapedHex) {
    EXPECT_EQ(copy_field(SourceValue::blob(std::string("\x00\xff\x10", 3)), TargetType::Bytea), "\\\\x00ff10");
    EXPECT_EQ(copy_field(SourceValue::text("ab"), TargetType::Bytea), "\\\\x6162");
}

TEST(CopyValues, NumbersExactly) {
    EXPECT_EQ(copy_field(SourceValue::of(-9223372036854775807LL - 1), TargetType::Integer), "-9223372036854775808");
    EXPECT_EQ(copy_field(SourceValue::of_real(3.0), TargetType::Integer), "3");
    EXPECT_NE(refusal(SourceValue::of_real(2.5), TargetType::Integer).find("fractional part"), std::string::npos);
    EXPECT_EQ(copy_field(SourceValue::of_real(0.1), TargetType::Float), "0.1");
    EXPECT_EQ(copy_field(SourceValue::of_real(0.1 + 0.2), TargetType::Float), "0.30000000000000004");
    EXPECT_EQ(copy_field(SourceValue::of_real(0.5), TargetType::Numeric), "0.5");
    EXPECT_EQ(copy_field(SourceValue::of_real(1e300), TargetType::Float), "1e+300");
    EXPECT_EQ(copy_field(SourceValue::of(12), TargetType::Numeric), "12");
    EXPECT_NE(refusal(SourceValue::blob("x"), TargetType::Numeric), "");
    EXPECT_EQ(exact_real_text(2.0 / 3.0), "0.6666666666666666");
    EXPECT_EQ(exact_real_text(1.5), "1.5");
}

TEST(CopyValues, TextEscapedForCopy) {
    EXPECT_EQ(copy_field(SourceValue::text("a\tb\nc\\d\re"), TargetType::Text), "a\\tb\\nc\\\\d\\re");
    EXPECT_EQ(copy_field(SourceValue::text("{\"k\": [1, 2]}"), TargetType::Json), "{\"k\": [1, 2]}");
    EXPECT_EQ(copy_field(SourceValue::of(5), TargetType::Text), "5");
    EXPECT_EQ(copy_field(SourceValue::text("\\N"), TargetType::Text), "\\\\N");  // the text, not NULL
    EXPECT_NE(refusal(SourceValue::text(std::string("a\0b", 3)), TargetType::Text).find("text 'a\\x00b' in a text column: PostgreSQL text cannot hold a NUL byte"),
              std::string::npos);
}
