"""Shared helpers for the SQLite tests: a fresh database file per test with
the extension loaded, and small wrappers around the SQL functions."""
import json
import os
import shutil
import sqlite3
import tempfile
import time
import unittest

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
EXTENSION = os.path.join(ROOT, "sqlite_extension", "bgupdate.so")


def wait_for(predicate, timeout=20.0):
    """Polls until predicate() is true or timeout seconds passed; returns
    whether it became true (for states that settle, e.g. thread counts)."""
    end = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > end:
            return False
        time.sleep(0.01)
    return True


def connect(path, load=True):
    """A connection in autocommit mode (transactions only where a test says
    BEGIN), with the extension loaded."""
    db = sqlite3.connect(path, isolation_level=None, timeout=5)
    if load:
        db.enable_load_extension(True)
        db.load_extension(EXTENSION)
        db.enable_load_extension(False)
    return db


class DbTestCase(unittest.TestCase):
    def setUp(self):
        self.tmpdir = tempfile.mkdtemp(prefix="bgupdate-test-")
        self.path = os.path.join(self.tmpdir, "test.db")
        self.db = connect(self.path)
        self.db.execute("PRAGMA journal_mode=WAL")
        # Tests do many small autocommit writes; durability is not under test.
        self.db.execute("PRAGMA synchronous=OFF")

    def tearDown(self):
        try:
            self.db.close()
        finally:
            shutil.rmtree(self.tmpdir, ignore_errors=True)

    # -- wrappers -------------------------------------------------------
    def one(self, sql, params=()):
        row = self.db.execute(sql, params).fetchone()
        return None if row is None else row[0]

    def step(self):
        return json.loads(self.one("SELECT bgupdate_step()"))

    def step_until_done(self, limit=100000, between=None):
        """Steps until the queue is empty; returns the number of steps."""
        for n in range(1, limit + 1):
            out = self.step()
            if out["all_done"]:
                return n
            if out["update_name"] is None and not out.get("retry_in_ms"):
                self.fail(f"nothing runnable but the queue is not empty: {out}")
            if between:
                between(n)
        self.fail(f"not done after {limit} steps")

    def status(self):
        cur = self.db.execute("SELECT * FROM bgupdate_status")
        cols = [d[0] for d in cur.description]
        return {r[0]: dict(zip(cols, r)) for r in cur.fetchall()}

    def assertStepFails(self, *fragments):
        """The next step's batch failed: rolled back, recorded, and reported in
        its result (not raised, so that the record survives the caller's
        transaction on PostgreSQL too). Returns the step's result."""
        out = self.step()
        self.assertIn("error", out, f"the step did not report a failure: {out}")
        for f in fragments:
            self.assertIn(f, out["error"], f"error {out['error']!r} does not mention {f!r}")
        return out

    def assertSqlError(self, sql, params=(), *fragments):
        """The statement fails and the message names every fragment."""
        with self.assertRaises(sqlite3.Error) as cm:
            self.db.execute(sql, params).fetchall()
        msg = str(cm.exception)
        for f in fragments:
            self.assertIn(f, msg, f"error message {msg!r} does not mention {f!r}")
        return msg

    def queue_names(self):
        return [r[0] for r in self.db.execute(
            "SELECT update_name FROM background_updates ORDER BY ordering, update_name")]
