"""The status table, pause/resume, the admin switch and settings persisted
across connections, and the schema version/delta functions."""
import json
import sqlite3

from helpers import DbTestCase, connect, wait_for


class StatusAndControl(DbTestCase):
    def setUp(self):
        super().setUp()
        self.db.execute("CREATE TABLE t(id INTEGER PRIMARY KEY, a INT, b INT)")
        self.db.executemany("INSERT INTO t VALUES (?, ?, NULL)", [(i, i) for i in range(1, 1001)])
        self.db.execute("SELECT bgupdate_register_batched_update('fill_b', 't', '[\"id\"]', 'b = a * 2')")
        self.db.execute("SELECT bgupdate_enqueue('fill_b', 3)")

    def test_status_columns_and_state_transitions(self):
        db = self.db
        cols = [d[0] for d in db.execute("SELECT * FROM bgupdate_status").description]
        self.assertEqual(cols, ["update_name", "state", "ordering", "depends_on", "batches", "items_done",
                                "total_estimate", "percent", "avg_items_per_ms", "total_items_per_ms",
                                "batch_size", "eta_seconds", "attempts", "last_error", "started_at",
                                "updated_at", "completed_at", "hold_reason", "hold_until", "estimate_is_rough"])
        st = self.status()["fill_b"]
        self.assertEqual((st["state"], st["batches"], st["items_done"], st["ordering"]), ("pending", 0, 0, 3))

        out = self.step()
        self.assertEqual((out["update_name"], out["items"], out["batch_size"]), ("fill_b", 100, 100))
        st = self.status()["fill_b"]
        self.assertEqual(st["state"], "running")
        self.assertEqual(st["total_estimate"], 1000)
        self.assertAlmostEqual(st["percent"], 10.0, places=3)
        self.assertGreater(st["avg_items_per_ms"], 0)
        self.assertGreater(st["total_items_per_ms"], 0)
        self.assertEqual(st["batch_size"], 100)
        # More batches to go, with a second of sleep between batches (defaults).
        self.assertGreater(st["eta_seconds"], 0.5)
        self.assertIsNotNone(st["started_at"])
        self.assertIsNone(st["completed_at"])

        db.execute("SELECT bgupdate_pause('fill_b')")
        self.assertEqual(self.status()["fill_b"]["state"], "paused")
        out = self.step()
        self.assertIsNone(out["update_name"], "a paused update must not run")
        self.assertFalse(out["all_done"])
        self.assertEqual(self.one("SELECT count(*) FROM t WHERE b IS NOT NULL"), 100)

        db.execute("SELECT bgupdate_resume('fill_b')")
        self.assertEqual(self.status()["fill_b"]["state"], "running")
        self.step_until_done()
        st = self.status()["fill_b"]
        self.assertEqual(st["state"], "complete")
        self.assertAlmostEqual(st["percent"], 100.0, places=3)
        self.assertEqual(st["items_done"], 1000)
        self.assertIsNotNone(st["completed_at"])
        self.assertIn(st["eta_seconds"], (None, 0, 0.0))

    def test_enabled_switch_persisted_across_connections(self):
        self.assertEqual(self.one("SELECT bgupdate_enabled()"), 1)
        self.db.execute("SELECT bgupdate_set_enabled(0)")
        other = connect(self.path)
        try:
            self.assertEqual(other.execute("SELECT bgupdate_enabled()").fetchone()[0], 0)
            out = json.loads(other.execute("SELECT bgupdate_step()").fetchone()[0])
            self.assertIsNone(out["update_name"])
            self.assertEqual(out.get("enabled"), False)
            self.assertEqual(other.execute("SELECT count(*) FROM t WHERE b IS NOT NULL").fetchone()[0], 0)
            # finish() runs even when disabled (a later release's guarantee).
            other.execute("SELECT bgupdate_finish('fill_b')")
            self.assertEqual(other.execute("SELECT count(*) FROM t WHERE b = a * 2").fetchone()[0], 1000)
            other.execute("SELECT bgupdate_set_enabled('true')")
        finally:
            other.close()
        self.assertEqual(self.one("SELECT bgupdate_enabled()"), 1)

    def test_status_never_says_running_while_switched_off(self):
        self.step()  # a batch has run: the update is "running"
        self.assertEqual(self.status()["fill_b"]["state"], "running")
        self.db.execute("SELECT bgupdate_set_enabled(0)")
        st = self.status()["fill_b"]
        self.assertEqual(st["state"], "waiting", "nothing runs while switched off")
        self.assertIn("set_enabled(true)", st["last_error"])
        self.db.execute("SELECT bgupdate_set_enabled(1)")
        self.assertEqual(self.status()["fill_b"]["state"], "running")

    def test_config_persisted_and_used(self):
        self.assertEqual(self.one("SELECT bgupdate_config('default_batch_size')"), "100")
        self.assertEqual(self.one("SELECT bgupdate_config('default_batch_size', 37)"), "37")
        self.assertEqual(self.one("SELECT bgupdate_config('sleep_enabled', 'off')"), "false")
        other = connect(self.path)
        try:
            self.assertEqual(other.execute("SELECT bgupdate_config('default_batch_size')").fetchone()[0], "37")
            self.assertEqual(other.execute("SELECT bgupdate_config('sleep_enabled')").fetchone()[0], "false")
            out = json.loads(other.execute("SELECT bgupdate_step()").fetchone()[0])
            self.assertEqual(out["batch_size"], 37)
        finally:
            other.close()
        self.assertEqual(self.one("SELECT value FROM bgupdate_config WHERE key='default_batch_size'"), "37")

    def test_controller_hook_sets_first_batch_size(self):
        self.db.create_function("first_size", 1, lambda name: 7 if name == "fill_b" else None)
        self.db.execute("SELECT bgupdate_config('default_batch_size_hook', 'first_size')")
        self.assertEqual(self.step()["batch_size"], 7)
        self.assertSqlError("SELECT bgupdate_config('duration_hook', 'not_a_function')", (), "not_a_function")

    def test_run_with_time_budget(self):
        self.db.execute("SELECT bgupdate_config('sleep_enabled', 'false')")
        out = json.loads(self.one("SELECT bgupdate_run(10000)"))
        self.assertTrue(out["all_done"])
        self.assertEqual(out["items"], 1000)
        self.assertEqual(self.one("SELECT count(*) FROM t WHERE b = a * 2"), 1000)


class SchemaDeltas(DbTestCase):
    def test_apply_once_even_if_text_changed(self):
        db = self.db
        delta = """
            -- a comment; with a semicolon
            CREATE TABLE things(id INTEGER PRIMARY KEY, name TEXT);
            INSERT INTO things(name) VALUES ('semi;colon');
            CREATE TRIGGER things_ins AFTER INSERT ON things BEGIN
                UPDATE things SET name = name || '!' WHERE id = new.id;
            END;
        """
        self.assertEqual(self.one("SELECT bgupdate_apply_schema_delta(72, '01/things.sql', ?)", (delta,)), 1)
        self.assertEqual(self.one("SELECT bgupdate_apply_schema_delta(72, '01/things.sql', ?)",
                                  (delta + "\nDROP TABLE things;",)), 0)
        self.assertEqual(self.one("SELECT name FROM things"), "semi;colon")
        db.execute("INSERT INTO things(name) VALUES ('x')")
        self.assertEqual(self.one("SELECT name FROM things WHERE id = 2"), "x!")
        self.assertEqual(self.one("SELECT count(*) FROM applied_schema_deltas WHERE version = 72"), 1)

    def test_failed_delta_applies_nothing_and_names_the_statement(self):
        msg = self.assertSqlError("SELECT bgupdate_apply_schema_delta(73, 'bad.sql', ?)",
                                  ("CREATE TABLE ok1(a); INSERT INTO missing VALUES (1);",), "bad.sql", "missing")
        self.assertIn("statement 2", msg)
        self.assertIsNone(self.one("SELECT name FROM sqlite_master WHERE name = 'ok1'"))
        self.assertEqual(self.one("SELECT bgupdate_apply_schema_delta(73, 'bad.sql', 'CREATE TABLE ok1(a)')"), 1)

    def test_schema_version_and_compat(self):
        db = self.db
        db.execute("SELECT bgupdate_set_schema_version(80, 75)")
        self.assertEqual(self.one("SELECT version FROM schema_version"), 80)
        db.execute("SELECT bgupdate_check_schema_compat(75)")
        db.execute("SELECT bgupdate_check_schema_compat(90)")
        self.assertSqlError("SELECT bgupdate_check_schema_compat(74)", (), "75", "74")
        self.assertSqlError("SELECT bgupdate_set_schema_version(70, 75)", (), "compat_version")


class ExtensionLoading(DbTestCase):
    def test_functions_are_direct_only(self):
        self.db.execute("CREATE VIEW v AS SELECT bgupdate_enabled() AS e")
        self.assertSqlError("SELECT * FROM v", (), "unsafe use of bgupdate_enabled()")
        self.db.execute("CREATE TABLE x(a)")
        self.db.execute("CREATE TRIGGER x_ins AFTER INSERT ON x BEGIN SELECT bgupdate_step(); END")
        self.assertSqlError("INSERT INTO x VALUES (1)", (), "unsafe use of bgupdate_step()")

    def test_loading_twice_replaces_the_first_and_stops_its_thread(self):
        import os
        from helpers import EXTENSION
        db = self.db
        self.assertEqual(self.one("SELECT bgupdate_start()"), 1)
        threads = lambda: len(os.listdir("/proc/self/task"))
        # The kernel may list a thread for a moment after pthread_join
        # returned: wait for the count with a deadline instead of once.
        self.assertTrue(wait_for(lambda: threads() >= 2, 10.0), "the background thread is not running")
        db.enable_load_extension(True)
        db.load_extension(EXTENSION)
        db.enable_load_extension(False)
        # The first registration's state (and its thread) is gone; the new one works.
        self.assertTrue(wait_for(lambda: threads() == 1, 10.0), "the first registration's thread is still running")
        self.assertEqual(self.one("SELECT bgupdate_stop()"), 0)
        self.assertEqual(self.one("SELECT bgupdate_enabled()"), 1)
        self.assertEqual(self.one("SELECT count(*) FROM bgupdate_status"), 0)
