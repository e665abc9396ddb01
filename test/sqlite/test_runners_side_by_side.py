"""Every row exactly once on SQLite, whoever runs the batches: connections in
several processes, a step() loop beside the background thread; and the
limits that make a runner stop: a callback handler bounded by
statement_timeout_ms, a handler that never ends, settings that contradict
each other, a definition that would change under a queued update."""
import json
import multiprocessing
import os
import sqlite3
import time

from helpers import DbTestCase, connect, wait_for

ROWS = 20000


def step_loop(path, steps_per_transaction, seconds):
    """A process stepping the queue, several steps per transaction, until the
    queue is empty. A deferred transaction that cannot take the write lock
    fails at once ("database is locked": SQLite does not wait where waiting
    could deadlock), so the loop is bounded by time, not by rounds: under
    load most rounds may be refused."""
    db = connect(path)
    db.execute("PRAGMA busy_timeout = 5000")
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            db.execute("BEGIN")
            for _ in range(steps_per_transaction):
                db.execute("SELECT bgupdate_step()").fetchone()
            db.execute("COMMIT")
        except sqlite3.OperationalError:
            if db.in_transaction:
                db.execute("ROLLBACK")
        if db.execute("SELECT bgupdate_has_completed_all()").fetchone()[0]:
            break
    db.close()


class SideBySide(DbTestCase):
    def setUp(self):
        super().setUp()
        db = self.db
        db.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, b INT NOT NULL DEFAULT 0)")
        db.execute(f"WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {ROWS})"
                   " INSERT INTO t (id) SELECT i FROM n")
        db.execute("SELECT bgupdate_config('sleep_enabled', 'false')")
        db.execute("SELECT bgupdate_config('default_batch_size', '200')")
        db.execute("SELECT bgupdate_config('max_batch_size', '200')")
        db.execute("SELECT bgupdate_register_batched_update('count', 't', '[\"id\"]', 'b = b + 1')")

    def assertExactlyOnce(self):
        self.assertEqual(self.one("SELECT count(*) FROM t WHERE b = 1"), ROWS, "every row changed")
        self.assertEqual(self.one("SELECT count(*) FROM t WHERE b <> 1"), 0, "no row changed twice")
        self.assertEqual(self.status()["count"]["items_done"], ROWS, "status counts each row once")
        # Each batch starts where the one before ended (history's from/to).
        rows = self.db.execute("SELECT detail FROM bgupdate_history WHERE update_name = 'count'"
                               " AND event = 'batch' ORDER BY id").fetchall()
        details = [json.loads(r[0]) for r in rows]
        for before, after in zip(details, details[1:]):
            self.assertEqual(after["from"], before["to"], "batch ranges follow each other")

    def test_connections_in_several_processes(self):
        self.db.execute("SELECT bgupdate_enqueue('count')")
        procs = [multiprocessing.Process(target=step_loop, args=(self.path, 5, 90)) for _ in range(3)]
        for p in procs:
            p.start()
        for p in procs:
            p.join(120)
            self.assertEqual(p.exitcode, 0)
        self.assertTrue(self.one("SELECT bgupdate_has_completed('count')"))
        self.assertExactlyOnce()

    def test_step_beside_the_background_thread(self):
        self.db.execute("SELECT bgupdate_enqueue('count')")
        other = connect(self.path)
        other.execute("SELECT bgupdate_start()")
        try:
            deadline = time.monotonic() + 120
            while not self.one("SELECT bgupdate_has_completed('count')") and time.monotonic() < deadline:
                self.db.execute("SELECT bgupdate_step()").fetchone()
        finally:
            other.execute("SELECT bgupdate_stop()")
            other.close()
        self.assertExactlyOnce()


class Limits(DbTestCase):
    def setUp(self):
        super().setUp()
        self.db.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, b INT NOT NULL DEFAULT 0)")
        self.db.execute("INSERT INTO t (id) VALUES (1), (2), (3)")

    def test_a_callback_handler_is_bounded_by_the_statement_timeout(self):
        db = self.db

        def sleepy(progress, batch_size):
            db.execute("UPDATE t SET b = b + 1")
            time.sleep(1.5)  # in the application's own code: no SQL to interrupt
            db.execute("SELECT bgupdate_end_update('sleepy')")
            return 3

        db.create_function("sleepy_fn", 2, sleepy)
        db.execute("SELECT bgupdate_register_update_handler('sleepy', 'sleepy_fn')")
        db.execute("SELECT bgupdate_enqueue('sleepy')")
        db.execute("SELECT bgupdate_config('statement_timeout_ms', '300')")
        db.execute("SELECT bgupdate_config('min_batch_size', '100')")  # at the minimum: a timeout counts
        out = self.step()
        self.assertIn("statement timeout", out.get("error", ""), out)
        self.assertEqual(self.one("SELECT sum(b) FROM t"), 0, "its batch was rolled back")
        self.assertFalse(self.one("SELECT bgupdate_has_completed('sleepy')"))
        self.assertEqual(self.status()["sleepy"]["attempts"], 1)

    def test_a_handler_that_never_ends_is_held(self):
        db = self.db
        calls = []

        def idle(progress, batch_size):
            calls.append(1)
            return 0

        db.create_function("idle_fn", 2, idle)
        db.execute("SELECT bgupdate_register_update_handler('idle', 'idle_fn')")
        db.execute("SELECT bgupdate_enqueue('idle')")
        db.execute("SELECT bgupdate_config('sleep_enabled', 'false')")
        summary = json.loads(self.one("SELECT bgupdate_run(1500)"))
        self.assertEqual(len(calls), 10, summary)
        st = self.status()["idle"]
        self.assertEqual(st["state"], "on_hold")
        self.assertIn("made no progress in its last 10 batches", st["hold_reason"])

    def test_contradictory_settings_and_null_arguments_are_refused(self):
        db = self.db
        db.execute("SELECT bgupdate_config('max_batch_size', '10')")
        with self.assertRaisesRegex(sqlite3.OperationalError, r"min_batch_size \(1000\) is larger than max_batch_size"):
            db.execute("SELECT bgupdate_config('min_batch_size', '1000')")
        self.assertEqual(self.one("SELECT bgupdate_config('min_batch_size')"), "1", "the old value stays")
        with self.assertRaisesRegex(sqlite3.OperationalError, "max_ms"):
            db.execute("SELECT bgupdate_run(NULL)")
        with self.assertRaisesRegex(sqlite3.OperationalError, "timeout_ms"):
            db.execute("SELECT bgupdate_finish('x', -5)")

    def test_a_queued_updates_definition_cannot_change_under_it(self):
        db = self.db
        db.execute("SELECT bgupdate_config('default_batch_size', '1')")
        db.execute("SELECT bgupdate_register_batched_update('fill', 't', '[\"id\"]', 'b = b + 1')")
        db.execute("SELECT bgupdate_enqueue('fill')")
        self.step()  # half done
        with self.assertRaisesRegex(sqlite3.OperationalError, r"queued with a different definition.*reset\('fill'\)"):
            db.execute("SELECT bgupdate_register_batched_update('fill', 't', '[\"id\"]', 'b = b + 100')")
        db.execute("SELECT bgupdate_register_batched_update('fill', 't', '[\"id\"]', 'b = b + 1')")  # the same: fine
        db.execute("SELECT bgupdate_reset('fill')")
        db.execute("SELECT bgupdate_register_batched_update('fill', 't', '[\"id\"]', 'b = b + 100')")
        db.execute("SELECT bgupdate_finish('fill')")
        self.assertEqual(sorted(r[0] for r in db.execute("SELECT b FROM t")), [100, 100, 101],
                         "the first batch of the old definition, then all of the new one")
