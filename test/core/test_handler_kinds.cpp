// The table of handler kinds (common/handlers/handler_kinds.cpp) against the
// SQL surface: each kind registered from SQL names a register_* function the
// surface declares on both engines, and Api::register_update reads that
// function's arguments through the kind's registration.
#include <gtest/gtest.h>

#include <map>
#include <optional>
#include <string>

#include "api.h"
#include "errors.h"
#include "handler_kind.h"
#include "json.h"
#include "memory_engine.h"
#include "sql_arguments.h"
#include "sql_surface.h"
#include "store.h"

namespace sql = bgupdate::sql;
using Values = std::map<std::string, std::string>;
using bgupdate::HandlerKind;

namespace {

const HandlerKind kAllKinds[] = {HandlerKind::Generic,
                                 HandlerKind::Index,
                                 HandlerKind::ValidateConstraint,
                                 HandlerKind::ValidateConstraintAndDeleteRows,
                                 HandlerKind::BatchedUpdate,
                                 HandlerKind::Application};

// Text arguments by name; any other reader is not needed by these tests.
class TextArguments : public bgupdate::RegistrationArguments {
public:
    explicit TextArguments(Values values) : values_(std::move(values)) {}
    std::string text(const char* name) const override {
        auto v = opt_text(name);
        if (!v) bgupdate::bad_input(std::string(name) + " must not be NULL");
        return *v;
    }
    std::optional<std::string> opt_text(const char* name) const override {
        auto it = values_.find(name);
        if (it == values_.end()) return std::nullopt;
        return it->second;
    }
    int64_t integer(const char* name) const override { return std::stoll(text(name)); }
    bool opt_boolean(const char* name, bool dflt) const override {
        auto v = opt_text(name);
        return v ? *v == "true" : dflt;
    }
    std::vector<std::string> string_list(const char* name) const override { return {text(name)}; }

private:
    Values values_;
};

TEST(HandlerKinds, EachRegisteringKindNamesARegisterFunctionOfBothEngines) {
    int registering = 0;
    for (HandlerKind kind : kAllKinds) {
        const bgupdate::HandlerKindTraits& t = bgupdate::handler_kind_traits(kind);
        EXPECT_EQ(t.sql_function == nullptr, t.register_update == nullptr) << t.name;
        if (!t.sql_function) continue;
        ++registering;
        const sql::Function* fn = sql::find_function(t.sql_function);
        ASSERT_NE(fn, nullptr) << t.name << ": " << t.sql_function << " is not in sql_surface.h";
        EXPECT_EQ(std::string(fn->name).rfind("register_", 0), 0u) << fn->name;
        EXPECT_TRUE(fn->on(sql::kPostgres) && fn->on(sql::kSqlite)) << fn->name;
        EXPECT_EQ(fn->position("update_name"), 0) << fn->name << " must take update_name first";
        EXPECT_EQ(bgupdate::handler_kind_registered_by(t.sql_function), &t) << t.sql_function;
    }
    EXPECT_EQ(registering, 5);
    EXPECT_EQ(bgupdate::handler_kind_registered_by("enqueue"), nullptr);
    EXPECT_EQ(bgupdate::handler_kind_registered_by("register_application_update"), nullptr);
}

TEST(HandlerKinds, RegisterUpdateReadsTheArgumentsThroughTheKindsRegistration) {
    bgupdate_test::MemoryEngine engine;
    bgupdate::Api api(engine);
    api.ensure_schema();
    engine.exec("CREATE TABLE t(id INTEGER PRIMARY KEY, a INT)");
    api.register_update(HandlerKind::ValidateConstraint,
                        TextArguments(Values{{"update_name", "v"}, {"constraint_name", "c"}, {"table", "t"}}));
    auto reg = bgupdate::Store(engine).registration("v");
    ASSERT_TRUE(reg.has_value());
    EXPECT_EQ(reg->kind, HandlerKind::ValidateConstraint);
    bgupdate::Json spec = bgupdate::Json::parse_object(reg->spec_json, "spec");
    EXPECT_EQ(spec.at("constraint_name").as_string().value_or(""), "c");
    EXPECT_EQ(spec.at("table").as_string().value_or(""), "t");

    // The kind's own checks and messages.
    try {
        api.register_update(HandlerKind::ValidateConstraint,
                            TextArguments(Values{{"update_name", "w"}, {"constraint_name", "c"}, {"table", "missing"}}));
        FAIL() << "a missing table was accepted";
    } catch (const bgupdate::Error& e) {
        EXPECT_STREQ(e.what(), "table 'missing' does not exist");
    }
    // The first absent argument in the kind's order is the one reported.
    try {
        api.register_update(HandlerKind::ValidateConstraint, TextArguments(Values{{"table", "t"}}));
        FAIL() << "a NULL update_name was accepted";
    } catch (const bgupdate::Error& e) {
        EXPECT_STREQ(e.what(), "update_name must not be NULL");
    }
    // A kind registered otherwise (register_application_update) has no registration from SQL arguments.
    EXPECT_THROW(api.register_update(HandlerKind::Application, TextArguments(Values{{"update_name", "a"}})),
                 bgupdate::Error);
}

}  // namespace
