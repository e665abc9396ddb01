#!/usr/bin/python3
"""The gradual NOT NULL example (examples/gradual_not_null, Synapse's guide):
applied release by release with the tool on SQLite and PostgreSQL while an
application-like writer keeps inserting rows with each release's statement.
After every release the guide's invariants are checked; at the end the old
column is gone, the constraint holds, no row is lost, and old code is refused.

Run by test/tools/run.sh; ends with "N passed, N failed"."""
import json
import os
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import unittest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.realpath(__file__))))
TOOL = os.path.join(REPO, "tools", "bgupdate")
EXTENSION = os.path.join(REPO, "sqlite_extension", "bgupdate")
EXAMPLE = os.path.join(REPO, "examples", "gradual_not_null")
PG_ADMIN = os.environ.get("BGUPDATE_TEST_PG")

# What each release's code writes (release N+4 and later no longer write old_column).
INSERTS = {
    100: ("INSERT INTO mytable (old_column) VALUES (%s)", lambda n: (n,)),
    101: ("INSERT INTO mytable (old_column, new_column) VALUES (%s, %s)", lambda n: (n, n * 100)),
    104: ("INSERT INTO mytable (new_column) VALUES (%s)", lambda n: (n * 100,)),
}
COMPAT = {100: 100, 101: 100, 102: 101, 103: 101, 104: 103, 105: 104}


def statement_for(release):
    return INSERTS[max(v for v in INSERTS if v <= release)]


class Writer(threading.Thread):
    """Inserts rows as the application of `release` would, until stopped."""

    def __init__(self, connect, placeholder):
        super().__init__(daemon=True)
        self.connect, self.placeholder = connect, placeholder
        self.release = 100
        self.inserted = 0
        self.errors = []
        self.stop = threading.Event()

    def run(self):
        conn = self.connect()
        n = 1
        while not self.stop.is_set():
            sql, args = statement_for(self.release)
            try:
                if self.placeholder == "?":
                    conn.execute(sql.replace("%s", "?"), args(n))
                else:
                    with conn.cursor() as c:
                        c.execute(sql, args(n))
                self.inserted += 1
                n += 1
            except Exception as e:  # a lock held by a migration: the application retries
                if "locked" not in str(e) and "busy" not in str(e) and len(self.errors) < 5:
                    self.errors.append(f"release {self.release}: {e}")
                time.sleep(0.01)
            time.sleep(0.002)
        conn.close()


class ExampleBase:
    KIND = None

    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory(prefix="bgupdate_example_")
        self.addCleanup(self.tmp.cleanup)
        if self.KIND == "sqlite":
            self.path = os.path.join(self.tmp.name, "app.db")
            conn = sqlite3.connect(self.path)
            conn.execute("PRAGMA journal_mode = WAL")
            conn.close()
            self.url = "sqlite://" + self.path
        else:
            import psycopg2
            self.pg = psycopg2
            admin = psycopg2.connect(PG_ADMIN)
            admin.autocommit = True
            with admin.cursor() as c:
                c.execute("DROP DATABASE IF EXISTS example_not_null")
                c.execute("CREATE DATABASE example_not_null")
            admin.close()
            self.url = PG_ADMIN.replace("dbname=postgres", "dbname=example_not_null")
            self.query("CREATE EXTENSION bgupdate")

    def connect(self):
        if self.KIND == "sqlite":
            conn = sqlite3.connect(self.path, isolation_level=None, timeout=30)
            return conn
        conn = self.pg.connect(self.url)
        conn.autocommit = True
        return conn

    def query(self, sql, args=()):
        conn = self.connect()
        try:
            if self.KIND == "sqlite":
                return conn.execute(sql.replace("%s", "?"), args).fetchall()
            with conn.cursor() as c:
                c.execute(sql, args or None)
                return c.fetchall() if c.description else []
        finally:
            conn.close()

    def columns(self):
        if self.KIND == "sqlite":
            return {r[1]: r for r in self.query("SELECT * FROM pragma_table_info('mytable')")}
        return {r[0]: r for r in self.query("SELECT column_name, is_nullable FROM information_schema.columns "
                                           "WHERE table_name = 'mytable'")}

    def not_null_enforced(self):
        if self.KIND == "sqlite":
            return self.columns()["new_column"][3] == 1
        nullable = self.columns()["new_column"][1] == "NO"
        checks = self.query("SELECT convalidated FROM pg_constraint WHERE conname = 'new_column_not_null'")
        return nullable or (checks and checks[0][0])

    def tool(self, *args, expect=0):
        r = subprocess.run([TOOL, *args[:1], "--db", self.url, *args[1:]], capture_output=True, text=True,
                           timeout=300, stdin=subprocess.DEVNULL)
        self.assertEqual(r.returncode, expect, f"{args}: exit {r.returncode}\n{r.stdout}\n{r.stderr}")
        return r

    def migrate(self, release):
        out = json.loads(self.tool("migrate", EXAMPLE, "--json", "--target", str(release),
                                   "--compat-version", str(COMPAT[release])).stdout)
        self.assertEqual((out["version"], out["compat_version"]), (release, COMPAT[release]))
        return out

    def test_releases_n_to_n_plus_5_with_a_writer(self):
        self.migrate(100)
        writer = Writer(self.connect, "?" if self.KIND == "sqlite" else "%s")
        writer.start()
        self.addCleanup(writer.stop.set)

        def wait_rows(k=20):  # let the writer insert under the current release
            target = writer.inserted + k
            deadline = time.time() + 30
            while writer.inserted < target and time.time() < deadline:
                time.sleep(0.01)
            self.assertGreaterEqual(writer.inserted, target, writer.errors)

        wait_rows(200)
        # N+1: new_column exists, nullable; the N+1 code writes both.
        self.migrate(101)
        self.assertIn("new_column", self.columns())
        self.assertFalse(self.not_null_enforced())
        wait_rows()
        writer.release = 101
        wait_rows()
        # N+2: release N is refused; the backfill is queued (one queue, unqualified insert).
        self.migrate(102)
        self.tool("check", "--code-version", "100", expect=5)
        queued = [r[0] for r in self.query("SELECT update_name FROM " + ("bgupdate." if self.KIND == "postgres" else "")
                                           + "background_updates ORDER BY ordering")]
        self.assertEqual(queued[0], "mytable_new_column_backfill")
        if self.KIND == "postgres":
            self.assertEqual(queued, ["mytable_new_column_backfill", "mytable_new_column_validate"])
            # New rows must already comply (NOT VALID check).
            with self.assertRaises(Exception):
                self.query("INSERT INTO mytable (old_column) VALUES (1)")
        self.tool("check", "--code-version", "102", "--update", "mytable_new_column_backfill", expect=3)
        writer.release = 102
        wait_rows()
        # The background work, as a runner would do it, with the writer still going.
        self.tool("run")
        self.tool("check", "--code-version", "102")
        self.assertEqual(self.query("SELECT count(*) FROM mytable WHERE new_column IS NULL")[0][0], 0)
        if self.KIND == "postgres":
            self.assertTrue(self.not_null_enforced())  # validated in the background
        # N+3: the constraint is enforced on both engines; old_column still written.
        self.migrate(103)
        writer.release = 103
        wait_rows()
        self.assertTrue(self.not_null_enforced())
        with self.assertRaises(Exception):
            self.query("INSERT INTO mytable (old_column, new_column) VALUES (1, NULL)")
        self.assertEqual(self.query("SELECT count(*) FROM mytable WHERE new_column <> old_column * 100")[0][0], 0)
        # N+4: the code stops writing old_column.
        self.migrate(104)
        writer.release = 104
        wait_rows()
        # N+5: old_column is dropped.
        self.migrate(105)
        wait_rows()
        writer.stop.set()
        writer.join(30)
        self.assertEqual(writer.errors, [])
        self.assertNotIn("old_column", self.columns())
        self.assertTrue(self.not_null_enforced())
        with self.assertRaises(Exception):
            self.query("INSERT INTO mytable (new_column) VALUES (NULL)")
        total, nulls = self.query("SELECT count(*), count(*) - count(new_column) FROM mytable")[0]
        self.assertEqual((total, nulls), (writer.inserted, 0))  # no row lost
        # Old code is refused, and nothing changes.
        r = self.tool("migrate", EXAMPLE, "--target", "103", expect=5)
        self.assertIn("needs code of version 104 or newer", r.stderr)
        self.assertNotIn("old_column", self.columns())
        self.tool("check", "--code-version", "105")


class SqliteExample(ExampleBase, unittest.TestCase):
    KIND = "sqlite"

    def test_rebuild_refuses_while_the_backfill_is_pending(self):
        self.migrate(100)
        self.query("INSERT INTO mytable (old_column) VALUES (1), (2), (3)")
        self.migrate(101)
        self.migrate(102)
        # A release N+3 whose delta forgot to finish the backfill first.
        broken = os.path.join(self.tmp.name, "broken")
        os.makedirs(os.path.join(broken, "103"))
        for v in ("100", "101", "102"):
            os.symlink(os.path.join(EXAMPLE, v), os.path.join(broken, v))
        with open(os.path.join(EXAMPLE, "103", "01_enforce_new_column.sql.sqlite")) as f:
            text = f.read().replace("SELECT bgupdate_finish('mytable_new_column_backfill');", "")
        with open(os.path.join(broken, "103", "01_enforce_new_column.sql.sqlite"), "w") as f:
            f.write(text)
        r = self.tool("migrate", broken, "--target", "103", expect=1)
        self.assertIn("background update 'mytable_new_column_backfill' is still queued on table 'mytable'", r.stderr)
        self.assertEqual(self.query("SELECT count(*) FROM mytable")[0][0], 3)
        self.assertEqual(self.query("SELECT version FROM schema_version")[0][0], 103)  # reached, delta not applied
        self.assertEqual(self.query("SELECT count(*) FROM applied_schema_deltas WHERE version = 103")[0][0], 0)


@unittest.skipUnless(PG_ADMIN, "BGUPDATE_TEST_PG is not set (test/tools/run.sh starts a server)")
class PostgresExample(ExampleBase, unittest.TestCase):
    KIND = "postgres"


if __name__ == "__main__":
    result = unittest.main(exit=False, verbosity=2).result
    failed = len(result.failures) + len(result.errors)
    skipped = len(result.skipped)
    print(f"{result.testsRun - failed - skipped} passed, {failed + skipped} failed")
    sys.exit(1 if failed or skipped else 0)
