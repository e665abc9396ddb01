// A registration means one thing while its update is queued, and settings
// that contradict each other are refused together.
#include <gtest/gtest.h>

#include "api.h"
#include "json.h"
#include "memory_engine.h"
#include "store.h"

using bgupdate::Api;
using bgupdate::Json;
using bgupdate::Store;
using bgupdate_test::MemoryEngine;

namespace {

class DefinitionsTest : public ::testing::Test {
protected:
    void SetUp() override {
        api.ensure_schema();
        engine.exec("CREATE TABLE t(id INTEGER PRIMARY KEY, a INT, b INT)");
        engine.exec("WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 50)"
                    " INSERT INTO t SELECT i, i, NULL FROM n");
    }
    void define(const std::string& set) { api.register_batched_update({"fill", "t", {"id"}, set, std::nullopt}); }
    MemoryEngine engine;
    Api api{engine};
};

TEST_F(DefinitionsTest, AQueuedUpdatesDefinitionCannotChangeUnderIt) {
    define("b = a");
    define("b = a");  // the same again (an application registers at every start): fine
    api.enqueue("fill", 0, std::nullopt, "{}");
    api.config("default_batch_size", "10");
    api.step();  // half done
    try {
        define("b = a * 2");
        FAIL() << "a different definition was accepted under a half-done update";
    } catch (const bgupdate::Error& e) {
        EXPECT_EQ(e.kind(), bgupdate::ErrorKind::NotNow);
        EXPECT_NE(std::string(e.what()).find("queued with a different definition"), std::string::npos) << e.what();
        EXPECT_NE(e.hint().find("reset('fill')"), std::string::npos) << e.hint();
    }
    EXPECT_NO_THROW(define("b = a"));
    // Nothing changed: the rest runs with the first definition.
    while (!api.step().all_done) {}
    EXPECT_EQ(engine.query("SELECT count(*) FROM t WHERE b = a")[0][0].as_int(), 50);
}

TEST_F(DefinitionsTest, ResetStartsTheUpdateOverUnderANewDefinition) {
    define("b = a");
    api.enqueue("fill", 0, std::nullopt, "{}");
    api.config("default_batch_size", "10");
    api.step();
    api.reset("fill");
    Store store(engine);
    EXPECT_EQ(store.queue_row("fill")->progress_json, "{}");
    EXPECT_FALSE(store.registration("fill").has_value());
    EXPECT_FALSE(store.state("fill").exists);
    EXPECT_EQ(engine.query("SELECT count(*) FROM bgupdate_history WHERE update_name = 'fill' AND event = 'reset'")[0][0]
                  .as_int(), 1);
    define("b = a * 2");
    while (!api.step().all_done) {}
    EXPECT_EQ(engine.query("SELECT count(*) FROM t WHERE b = a * 2")[0][0].as_int(), 50);
    EXPECT_THROW(api.reset("never_heard_of"), bgupdate::Error);
}

TEST_F(DefinitionsTest, ResetRefusesWhileABatchOfItRuns) {
    define("b = a");
    api.enqueue("fill", 0, std::nullopt, "{}");
    engine.claimed_elsewhere = {"fill"};
    EXPECT_THROW(api.reset("fill"), bgupdate::Error);
    EXPECT_TRUE(Store(engine).registration("fill").has_value());
}

TEST_F(DefinitionsTest, ADefinitionMayChangeWhenItsUpdateIsNotQueued) {
    define("b = a");
    EXPECT_NO_THROW(define("b = a * 3"));
}

TEST_F(DefinitionsTest, ContradictorySettingsAreRefusedTogetherAndTheOldValueKept) {
    api.config("max_batch_size", "10");
    try {
        api.config("min_batch_size", "1000");
        FAIL() << "min_batch_size above max_batch_size was accepted";
    } catch (const bgupdate::Error& e) {
        EXPECT_NE(std::string(e.what()).find("min_batch_size (1000) is larger than max_batch_size (10)"),
                  std::string::npos) << e.what();
    }
    EXPECT_EQ(api.config("min_batch_size"), "1");
    EXPECT_THROW(api.config("statement_timeout_ms", "50"), bgupdate::Error);  // below update_duration_ms (100)
    EXPECT_EQ(api.config("statement_timeout_ms"), "60000");
    // Set behind the API's back (PostgreSQL: two GUCs set separately): refused at run time.
    engine.set_setting("min_batch_size", "1000");
    define("b = a");
    api.enqueue("fill", 0, std::nullopt, "{}");
    EXPECT_THROW(api.step(), bgupdate::Error);
    EXPECT_EQ(engine.query("SELECT count(*) FROM t WHERE b IS NOT NULL")[0][0].as_int(), 0);
}

}  // namespace
