// Progress JSON: keyset bounds must round-trip exactly (integers beyond 2^53
// included), and malformed input is a BadInput error naming what it was.
#include <gtest/gtest.h>

#include <cstdint>
#include <string>

#include "errors.h"
#include "json.h"

using bgupdate::Json;
using bgupdate::Row;
using bgupdate::Value;

namespace {

// The message of the BadInput error `f` throws ("" if none).
template <typename F>
std::string bad_input_message(F f) {
    try {
        f();
    } catch (const bgupdate::Error& e) {
        EXPECT_EQ(e.kind(), bgupdate::ErrorKind::BadInput);
        return e.what();
    }
    return "";
}

}  // namespace

TEST(Json, KeysetBoundsRoundTripExactly) {
    const int64_t big = 9007199254740993;  // 2^53 + 1: a double would lose the 1
    Row row{Value::of(big), Value::of(std::string("it's \"quoted\"")), Value::null(), Value::of(INT64_MIN)};
    const std::string text = bgupdate::values_to_json(row).dump();
    EXPECT_NE(text.find("9007199254740993"), std::string::npos) << text;
    Row back = bgupdate::json_to_values(Json::parse(text, "test"), "test");
    ASSERT_EQ(back.size(), 4u);
    EXPECT_EQ(back[0].kind, Value::Kind::Integer);
    EXPECT_EQ(back[0].integer, big);
    EXPECT_EQ(back[1].kind, Value::Kind::Text);
    EXPECT_EQ(back[1].text, "it's \"quoted\"");
    EXPECT_TRUE(back[2].is_null());
    EXPECT_EQ(back[3].integer, INT64_MIN);
}

TEST(Json, ProgressMustBeAnObject) {
    EXPECT_NO_THROW(Json::parse_object("{\"lower_bound\": [1]}", "progress"));
    EXPECT_NE(bad_input_message([] { Json::parse_object("[1]", "progress_json of 'x'"); })
                  .find("progress_json of 'x'"),
              std::string::npos);
    const std::string msg = bad_input_message([] { Json::parse_object("{\"a\": ", "progress_json of 'x'"); });
    EXPECT_NE(msg.find("progress_json of 'x'"), std::string::npos) << msg;
}

TEST(Json, StringArrays) {
    EXPECT_EQ(bgupdate::parse_string_array("[\"a\", \"b c\"]", "columns"), (std::vector<std::string>{"a", "b c"}));
    EXPECT_NE(bad_input_message([] { bgupdate::parse_string_array("[\"a\", 1]", "columns"); }).find("columns"),
              std::string::npos);
    EXPECT_NE(bad_input_message([] { bgupdate::parse_string_array("[]", "columns"); }).find("columns"),
              std::string::npos);
    EXPECT_NE(bad_input_message([] { bgupdate::parse_string_array("\"a\"", "columns"); }).find("columns"),
              std::string::npos);
    EXPECT_EQ(bgupdate::string_array({"x", "y"}).dump(), "[\"x\",\"y\"]");
}

TEST(Json, BoundsRejectNestedValues) {
    EXPECT_NE(bad_input_message([] { bgupdate::json_to_values(Json::parse("[[1]]", "b"), "lower_bound"); })
                  .find("lower_bound"),
              std::string::npos);
    EXPECT_NE(bad_input_message([] { bgupdate::json_to_values(Json::parse("{}", "b"), "lower_bound"); })
                  .find("lower_bound"),
              std::string::npos);
}

TEST(Value, Conversions) {
    EXPECT_EQ(Value::of(int64_t{42}).as_text(), "42");
    EXPECT_EQ(Value::null().as_text(), "");
    EXPECT_EQ(Value::null().as_int(), 0);
    EXPECT_EQ(Value::of(std::string("123")).as_int(), 123);
    EXPECT_DOUBLE_EQ(Value::of_real(0.1).as_real(), 0.1);
    EXPECT_DOUBLE_EQ(std::stod(Value::of_real(0.1).as_text()), 0.1);  // printed without loss
}
