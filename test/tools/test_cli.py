#!/usr/bin/python3
"""tools/bgupdate against the SQLite extension: applying deltas, running
updates to completion, stopping, and the errors a user can run into.

Run by test/tools/run.sh; ends with "N passed, N failed"."""
import os
import sqlite3
import subprocess
import sys
import tempfile
import time
import unittest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.realpath(__file__))))
TOOL = os.path.join(REPO, "tools", "bgupdate")
EXTENSION = os.path.join(REPO, "sqlite_extension", "bgupdate")


class CliTestCase(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory(prefix="bgupdate_cli_")
        self.db_path = os.path.join(self.tmp.name, "app.db")
        self.deltas = os.path.join(self.tmp.name, "delta")

    def tearDown(self):
        self.tmp.cleanup()

    def cli(self, *args, timeout=60):
        return subprocess.run(["/usr/bin/python3", TOOL, *args], capture_output=True, text=True,
                              timeout=timeout, stdin=subprocess.DEVNULL)

    def connect(self):
        conn = sqlite3.connect(self.db_path, isolation_level=None)
        conn.enable_load_extension(True)
        conn.load_extension(EXTENSION)
        self.addCleanup(conn.close)
        return conn

    def write_deltas(self, files):
        for rel, text in files.items():
            path = os.path.join(self.deltas, rel)
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path, "w", encoding="utf-8") as f:
                f.write(text)

    def batched_table(self, conn, rows, name="fill", table="t", ordering=0, depends_on=None):
        conn.execute(f"CREATE TABLE {table} (id INTEGER PRIMARY KEY, old INT, new INT)")
        conn.execute(f"WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {rows}) "
                     f"INSERT INTO {table} (id, old) SELECT i, i FROM n")
        conn.execute("SELECT bgupdate_register_batched_update(?, ?, '[\"id\"]', 'new = old * 2', 'new IS NULL')",
                     (name, table))
        conn.execute("INSERT INTO background_updates (ordering, update_name, depends_on, progress_json) "
                     "VALUES (?, ?, ?, '{}')", (ordering, name, depends_on))

    def assertOk(self, result):
        self.assertEqual(result.returncode, 0, f"stdout:\n{result.stdout}\nstderr:\n{result.stderr}")

    def assertFails(self, result, *needles):
        self.assertNotEqual(result.returncode, 0, f"stdout:\n{result.stdout}\nstderr:\n{result.stderr}")
        text = result.stdout + result.stderr
        for needle in needles:
            self.assertIn(needle, text)


class ApplyDeltasTest(CliTestCase):
    FILES = {
        "1/a_create.sql": "CREATE TABLE log (n TEXT);\nINSERT INTO log VALUES ('1/a');\n",
        "1/b.sql": "-- second in version 1; a ';' in a comment\nINSERT INTO log VALUES ('1/b;');",
        "1/c.sql.postgres": "INSERT INTO log VALUES ('postgres only');",
        "1/d.sql.sqlite": ("CREATE TABLE other (x INT);\n"
                           "CREATE TRIGGER other_ins AFTER INSERT ON other BEGIN\n"
                           "  INSERT INTO log VALUES ('trigger');\n"
                           "END;\n"
                           "INSERT INTO log VALUES ('1/d');\n"),
        "1/README.md": "not a delta",
        "9/x.sql": "INSERT INTO log VALUES ('9');",
        "10/x.sql": "INSERT INTO other VALUES (10);",
        "notes/y.sql": "INSERT INTO log VALUES ('not a version');",
    }

    def log(self):
        return [r[0] for r in sqlite3.connect(self.db_path).execute("SELECT n FROM log ORDER BY rowid")]

    def test_applies_in_version_then_file_order_for_this_engine_only(self):
        self.write_deltas(self.FILES)
        result = self.cli("apply-deltas", "--sqlite", self.db_path, self.deltas)
        self.assertOk(result)
        # 10 after 9 (numeric order), files by name, the .postgres file left out.
        self.assertEqual(self.log(), ["1/a", "1/b;", "1/d", "9", "trigger"])
        self.assertIn("applied  1/a_create.sql", result.stdout)
        self.assertRegex(result.stdout, r"skipped +1/c\.sql\.postgres")
        self.assertNotIn("README", result.stdout)
        applied = sqlite3.connect(self.db_path).execute(
            "SELECT version, file FROM applied_schema_deltas ORDER BY version, file").fetchall()
        self.assertEqual(applied, [(1, "1/a_create.sql"), (1, "1/b.sql"), (1, "1/d.sql.sqlite"),
                                   (9, "9/x.sql"), (10, "10/x.sql")])

    def test_second_run_skips_applied_deltas(self):
        self.write_deltas(self.FILES)
        self.assertOk(self.cli("apply-deltas", "--sqlite", self.db_path, self.deltas))
        again = self.cli("apply-deltas", "--sqlite", self.db_path, self.deltas)
        self.assertOk(again)
        self.assertNotIn("applied  ", again.stdout)
        self.assertIn("skipped  1/a_create.sql (already applied)", again.stdout)
        self.assertEqual(len(self.log()), 5)

    def test_bad_delta_stops_and_names_the_file(self):
        self.write_deltas({"1/ok.sql": "CREATE TABLE log (n TEXT);",
                           "2/bad.sql": "INSERT INTO no_such_table VALUES (1);",
                           "3/later.sql": "INSERT INTO log VALUES ('later');"})
        result = self.cli("apply-deltas", "--sqlite", self.db_path, self.deltas)
        self.assertFails(result, "2/bad.sql", "no_such_table")
        self.assertEqual(self.log(), [])

    def test_unterminated_string_is_reported(self):
        self.write_deltas({"1/bad.sql": "CREATE TABLE log (n TEXT);\nINSERT INTO log VALUES ('oops);\n"})
        self.assertFails(self.cli("apply-deltas", "--sqlite", self.db_path, self.deltas), "1/bad.sql", "line 2")

    def test_missing_directory(self):
        self.assertFails(self.cli("apply-deltas", "--sqlite", self.db_path, os.path.join(self.tmp.name, "nope")),
                         "no such delta directory")

    def test_directory_without_versions(self):
        os.makedirs(self.deltas)
        self.assertFails(self.cli("apply-deltas", "--sqlite", self.db_path, self.deltas), "no version directories")


class RunTest(CliTestCase):
    def test_runs_batched_update_to_completion(self):
        conn = self.connect()
        self.batched_table(conn, 1000)
        conn.execute("SELECT bgupdate_config('sleep_enabled', 'false')")
        result = self.cli("run", "--sqlite", self.db_path)
        self.assertOk(result)
        self.assertIn("finished fill", result.stdout)
        self.assertIn("all background updates are complete", result.stdout)
        self.assertEqual(conn.execute("SELECT count(*) FROM t WHERE new IS NOT old * 2").fetchone()[0], 0)
        self.assertEqual(conn.execute("SELECT bgupdate_has_completed('fill')").fetchone()[0], 1)
        self.assertEqual(conn.execute("SELECT count(*) FROM background_updates").fetchone()[0], 0)

    def test_progress_display_has_columns(self):
        conn = self.connect()
        self.batched_table(conn, 50)
        result = self.cli("run", "--sqlite", self.db_path, "--no-sleep")
        self.assertOk(result)
        header = next(line for line in result.stdout.splitlines() if line.startswith("update"))
        for column in ("state", "percent", "rows/s", "eta"):
            self.assertIn(column, header)

    def test_dependencies_run_first(self):
        conn = self.connect()
        # "a_second" sorts first but depends on "b_first".
        self.batched_table(conn, 30, name="a_second", table="t1", depends_on="b_first")
        self.batched_table(conn, 30, name="b_first", table="t2", ordering=5)
        result = self.cli("run", "--sqlite", self.db_path, "--no-sleep")
        self.assertOk(result)
        self.assertLess(result.stdout.index("finished b_first"), result.stdout.index("finished a_second"))

    def test_max_seconds_stops_early(self):
        conn = self.connect()
        conn.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, old INT, new INT)")
        conn.execute("WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 3000) "
                     "INSERT INTO t (id, old) SELECT i, i FROM n")
        # Each row costs ~2 ms (a correlated counting subquery), so batches stay small
        # and the 300 ms pause between them makes the whole update take minutes.
        slow = ("new = old * 2 + (WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c "
                "WHERE i < 5000 + old * 0) SELECT count(*) FROM c) * 0")
        conn.execute("SELECT bgupdate_register_batched_update('fill', 't', '[\"id\"]', ?, 'new IS NULL')", (slow,))
        conn.execute("INSERT INTO background_updates (update_name, progress_json) VALUES ('fill', '{}')")
        conn.execute("SELECT bgupdate_config('default_batch_size', '10')")
        conn.execute("SELECT bgupdate_config('sleep_duration_ms', '300')")
        start = time.monotonic()
        result = self.cli("run", "--sqlite", self.db_path, "--max-seconds", "1")
        elapsed = time.monotonic() - start
        self.assertOk(result)
        self.assertLess(elapsed, 15)
        self.assertIn("stopped after 1 s", result.stdout)
        self.assertEqual(conn.execute("SELECT bgupdate_has_completed('fill')").fetchone()[0], 0)
        done = conn.execute("SELECT count(*) FROM t WHERE new IS NOT NULL").fetchone()[0]
        self.assertGreater(done, 0)
        self.assertLess(done, 3000)

    def test_dependency_cycle_is_an_error(self):
        conn = self.connect()
        self.batched_table(conn, 10, name="cyc_a", table="t1", depends_on="cyc_b")
        self.batched_table(conn, 10, name="cyc_b", table="t2", depends_on="cyc_a")
        self.assertFails(self.cli("run", "--sqlite", self.db_path, "--no-sleep"), "cycle", "cyc_a", "cyc_b")

    def test_failing_update_stops_run(self):
        conn = self.connect()
        conn.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, old INT NOT NULL)")
        conn.execute("INSERT INTO t VALUES (1, 1), (2, 2)")
        # Valid SQL, so registration accepts it; every batch then breaks NOT NULL.
        conn.execute("SELECT bgupdate_register_batched_update('broken', 't', '[\"id\"]', 'old = NULL')")
        conn.execute("INSERT INTO background_updates (update_name, progress_json) VALUES ('broken', '{}')")
        conn.execute("SELECT bgupdate_config('max_failures', '2')")
        conn.execute("SELECT bgupdate_config('retry_backoff_ms', '0')")
        result = self.cli("run", "--sqlite", self.db_path, "--no-sleep", "--max-seconds", "30")
        self.assertFails(result, "broken failed", "NOT NULL")
        self.assertIn("batch failed", result.stdout)

    def test_paused_update_stops_run(self):
        conn = self.connect()
        self.batched_table(conn, 10)
        conn.execute("SELECT bgupdate_pause('fill')")
        self.assertFails(self.cli("run", "--sqlite", self.db_path, "--max-seconds", "30"), "fill is paused")

    def test_disabled_updates(self):
        conn = self.connect()
        self.batched_table(conn, 10)
        conn.execute("SELECT bgupdate_set_enabled(0)")
        self.assertFails(self.cli("run", "--sqlite", self.db_path, "--max-seconds", "30"), "disabled")

    def test_empty_queue(self):
        self.connect().execute("SELECT bgupdate_has_completed_all()")
        result = self.cli("run", "--sqlite", self.db_path)
        self.assertOk(result)
        self.assertIn("all background updates are complete", result.stdout)


class StatusTest(CliTestCase):
    def test_lists_pending_update(self):
        conn = self.connect()
        self.batched_table(conn, 10)
        result = self.cli("status", "--sqlite", self.db_path)
        self.assertOk(result)
        lines = result.stdout.splitlines()
        self.assertTrue(lines[0].startswith("update"))
        self.assertRegex(result.stdout, r"(?m)^fill +pending")

    def test_complete_update_shows_100_percent(self):
        conn = self.connect()
        self.batched_table(conn, 10)
        conn.execute("SELECT bgupdate_finish('fill')")
        result = self.cli("status", "--sqlite", self.db_path)
        self.assertOk(result)
        self.assertRegex(result.stdout, r"(?m)^fill +complete .*100\.0%")

    def test_no_updates(self):
        self.connect().execute("SELECT bgupdate_has_completed_all()")
        result = self.cli("status", "--sqlite", self.db_path)
        self.assertOk(result)
        self.assertIn("(no background updates)", result.stdout)


class ErrorTest(CliTestCase):
    def test_missing_extension(self):
        sqlite3.connect(self.db_path).close()
        result = self.cli("status", "--sqlite", self.db_path, "--extension", os.path.join(self.tmp.name, "nope"))
        self.assertFails(result, "extension not found")

    def test_missing_database(self):
        self.assertFails(self.cli("status", "--sqlite", os.path.join(self.tmp.name, "missing.db")),
                         "no such SQLite database")

    def test_needs_a_database(self):
        result = self.cli("status")
        self.assertEqual(result.returncode, 2)
        self.assertIn("--sqlite", result.stderr)

    def test_postgres_connection_error_is_clear(self):
        # Exercises the lazily imported PostgreSQL path without a server.
        dsn = f"host={self.tmp.name} port=1 dbname=nope connect_timeout=2"
        self.assertFails(self.cli("status", "--pg", dsn), "cannot connect to PostgreSQL")

    def test_negative_max_seconds(self):
        self.assertFails(self.cli("run", "--sqlite", self.db_path, "--max-seconds", "-1"), "must not be negative")


class CountingResult(unittest.TextTestResult):
    """Counts passes so the summary line can state them."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.passed = 0

    def addSuccess(self, test):
        super().addSuccess(test)
        self.passed += 1


if __name__ == "__main__":
    suite = unittest.defaultTestLoader.loadTestsFromModule(sys.modules[__name__])
    result = unittest.TextTestRunner(verbosity=2, resultclass=CountingResult, stream=sys.stdout).run(suite)
    # Skips and unexpected successes count as failures: nothing is skipped silently.
    failed = len(result.failures) + len(result.errors) + len(result.skipped) + len(result.unexpectedSuccesses)
    print(f"{result.passed} passed, {failed} failed")
    sys.exit(0 if failed == 0 and result.passed > 0 else 1)
