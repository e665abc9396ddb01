"""Every kind of bad input gets an error naming the problem, and nothing
already done is lost."""
import json

from helpers import DbTestCase


class BadInput(DbTestCase):
    def setUp(self):
        super().setUp()
        db = self.db
        db.execute("CREATE TABLE t(id INTEGER PRIMARY KEY, a INT, b INT)")
        db.executemany("INSERT INTO t VALUES (?, ?, NULL)", [(i, i) for i in range(1, 301)])
        # Work in progress that must survive every error below.
        db.execute("SELECT bgupdate_register_batched_update('good', 't', '[\"id\"]', 'b = a')")
        db.execute("SELECT bgupdate_enqueue('good')")
        self.step()
        self.assertEqual(self.one("SELECT count(*) FROM t WHERE b IS NOT NULL"), 100)

    def tearDown(self):
        try:
            # Nothing already done is lost, and the runner still works.
            self.assertIn("good", self.queue_names())
            self.assertEqual(self.status()["good"]["items_done"], 100)
            self.step_until_done_good()
        finally:
            super().tearDown()

    def step_until_done_good(self):
        for _ in range(20):
            try:
                out = self.step()
            except Exception:
                continue  # a deliberately broken update may fail; 'good' still goes on
            if self.one("SELECT bgupdate_has_completed('good')"):
                break
        self.assertEqual(self.one("SELECT count(*) FROM t WHERE b = a"), 300)

    def test_unknown_handler_function(self):
        self.assertSqlError("SELECT bgupdate_register_update_handler('x', 'no_such_fn')", (), "no_such_fn")
        self.assertIsNone(self.one("SELECT 1 FROM bgupdate_registry WHERE update_name = 'x'"))

    def test_handler_function_contract(self):
        db = self.db
        db.create_function("one_arg", 1, lambda p: 1)
        self.assertSqlError("SELECT bgupdate_register_update_handler('h1', 'one_arg')", (), "one_arg", "2 arguments")
        db.create_function("returns_null", 2, lambda p, n: None)
        db.execute("SELECT bgupdate_config('retry_backoff_ms', '0')")
        db.execute("SELECT bgupdate_register_update_handler('h2', 'returns_null')")
        db.execute("SELECT bgupdate_enqueue('h2', -1)")
        self.assertStepFails("h2", "returns_null", "integer")
        db.execute("SELECT bgupdate_pause('h2')")

    def test_queued_update_without_handler_waits_for_one(self):
        # A delta may enqueue before the application registers the handler:
        # the update waits (no attempts burnt), status and finish() say why.
        db = self.db
        db.execute("SELECT bgupdate_config('retry_backoff_ms', '0')")
        db.execute("SELECT bgupdate_pause('good')")
        db.execute("SELECT bgupdate_enqueue('orphan', -1)")
        for _ in range(6):
            out = self.step()
            self.assertIsNone(out["update_name"], out)
            self.assertNotIn("error", out)
        st = self.status()["orphan"]
        self.assertEqual((st["state"], st["attempts"]), ("pending", 0))
        self.assertIn("no handler is registered", st["last_error"])
        self.assertSqlError("SELECT bgupdate_finish('orphan')", (), "orphan", "handler")
        db.execute("CREATE TABLE orphan_t (id INTEGER PRIMARY KEY, v INT)")
        db.execute("INSERT INTO orphan_t (id) VALUES (1), (2)")
        db.execute("SELECT bgupdate_register_batched_update('orphan', 'orphan_t', '[\"id\"]', 'v = id')")
        self.assertEqual(self.step()["update_name"], "orphan")
        db.execute("SELECT bgupdate_resume('good')")

    def test_malformed_progress_json(self):
        self.assertSqlError("SELECT bgupdate_enqueue('x2', 0, NULL, '{not json')", (), "progress")
        self.assertSqlError("SELECT bgupdate_update_progress('good', '[1, 2]')", (), "progress")
        self.assertSqlError("SELECT bgupdate_enqueue('x3', 0, NULL, '\"a string\"')", (), "progress")

    def test_missing_table_and_column(self):
        self.assertSqlError("SELECT bgupdate_register_batched_update('m1', 'no_table', '[\"id\"]', 'b = a')",
                            (), "no_table")
        self.assertSqlError("SELECT bgupdate_register_batched_update('m2', 't', '[\"nope\"]', 'b = a')",
                            (), "nope")
        self.assertSqlError("SELECT bgupdate_register_index_update('m3', 'i', 't', '[\"zz\"]')", (), "zz")
        self.assertSqlError("SELECT bgupdate_register_validate_constraint_and_delete_rows('m4', 't', 'c',"
                            " '{\"not_null\": \"qq\"}', '[\"id\"]')", (), "qq")

    def test_bad_identifiers_and_arrays(self):
        self.assertSqlError("SELECT bgupdate_register_index_update('i1', '', 't', '[\"a\"]')", (), "index_name")
        self.assertSqlError("SELECT bgupdate_register_index_update('i2', 'i2', 't', 'a')", (), "columns")
        self.assertSqlError("SELECT bgupdate_register_index_update('i3', 'i3', 't', '[1]')", (), "columns")
        self.assertSqlError("SELECT bgupdate_register_index_update('i4', 'i4', 't', '[]')", (), "columns")
        self.assertSqlError("SELECT bgupdate_register_batched_update('i5', 't', '{\"id\": 1}', 'b = a')",
                            (), "key_columns")
        # Quoted, not injected: a column literally named like an injection attempt does not exist.
        self.assertSqlError("SELECT bgupdate_register_index_update('i6', 'i6', 't', '[\"a\\\"); DROP TABLE t; --\"]')",
                            (), "DROP TABLE")
        self.assertEqual(self.one("SELECT count(*) FROM t"), 300)

    def test_bad_constraint_json(self):
        self.assertSqlError("SELECT bgupdate_register_validate_constraint_and_delete_rows('c1', 't', 'c',"
                            " '{\"unique\": \"a\"}', '[\"id\"]')", (), "constraint")
        self.assertSqlError("SELECT bgupdate_add_constraint_and_enqueue(1, 'c2', 't', 'c', 'nope', 't2',"
                            " 'CREATE TABLE t2(id INTEGER PRIMARY KEY, a INT, b INT)')", (), "constraint")

    def test_cycle(self):
        db = self.db
        db.execute("SELECT bgupdate_register_validate_constraint('v1', 'c', 't')")
        db.execute("SELECT bgupdate_register_validate_constraint('v2', 'c', 't')")
        db.execute("SELECT bgupdate_enqueue('v1', -5, 'v2')")
        db.execute("SELECT bgupdate_enqueue('v2', -5, 'v1')")
        db.execute("SELECT bgupdate_pause('good')")
        self.assertSqlError("SELECT bgupdate_step()", (), "cycle", "v1", "v2")
        db.execute("SELECT bgupdate_resume('good')")
        db.execute("DELETE FROM background_updates WHERE update_name IN ('v1', 'v2')")

    def test_negative_sizes_and_unknown_config(self):
        for key in ["default_batch_size", "min_batch_size", "sleep_duration_ms", "update_duration_ms",
                    "max_failures"]:
            self.assertSqlError("SELECT bgupdate_config(?, '-1')", (key,), key)
        self.assertSqlError("SELECT bgupdate_config('default_batch_size', 'lots')", (), "default_batch_size")
        self.assertSqlError("SELECT bgupdate_config('no_such_setting', '1')", (), "no_such_setting")
        self.assertSqlError("SELECT bgupdate_run(-5)", (), "max_ms")
        self.assertEqual(self.one("SELECT bgupdate_config('default_batch_size')"), "100")

    def test_null_arguments_name_the_argument(self):
        cases = [
            ("SELECT bgupdate_enqueue(NULL)", "update_name"),
            ("SELECT bgupdate_register_update_handler('x', NULL)", "handler"),
            ("SELECT bgupdate_register_index_update('x', NULL, 't', '[\"a\"]')", "index_name"),
            ("SELECT bgupdate_register_index_update('x', 'i', 't', NULL)", "columns"),
            ("SELECT bgupdate_register_batched_update('x', 't', '[\"id\"]', NULL)", "set_clause"),
            ("SELECT bgupdate_update_progress('good', NULL)", "progress_json"),
            ("SELECT bgupdate_config(NULL)", "key"),
            ("SELECT bgupdate_config('sleep_enabled', NULL)", "value"),
            ("SELECT bgupdate_set_enabled(NULL)", "enabled"),
            ("SELECT bgupdate_run(NULL)", "max_ms"),
            ("SELECT bgupdate_add_constraint_and_enqueue(NULL, 'n', 't', 'c', '{}', 't2', 'x')", "ordering"),
            ("SELECT bgupdate_apply_schema_delta(1, NULL, 'SELECT 1')", "file_name"),
        ]
        for sql, name in cases:
            with self.subTest(sql=sql):
                self.assertSqlError(sql, (), name)
        self.assertSqlError("SELECT bgupdate_enqueue()", (), "argument")
        self.assertSqlError("SELECT bgupdate_step(1)", (), "argument")

    def test_unknown_update_names(self):
        self.assertSqlError("SELECT bgupdate_pause('nobody')", (), "nobody")
        self.assertSqlError("SELECT bgupdate_update_progress('nobody', '{}')", (), "nobody")
        self.assertSqlError("SELECT bgupdate_enqueue('good')", (), "good")  # already queued
