"""Atomic batches, the caller's own transaction, failures and retry."""
import json
import sqlite3

from helpers import DbTestCase


class Atomicity(DbTestCase):
    def setUp(self):
        super().setUp()
        self.db.execute("CREATE TABLE out(id INTEGER PRIMARY KEY, v INT)")

    def test_handler_raising_halfway_leaves_no_partial_writes(self):
        db = self.db
        attempts = []

        def handler(progress_json, batch_size):
            attempts.append(progress_json)
            base = json.loads(progress_json).get("next", 0)
            for i in range(base, base + 10):
                db.execute("INSERT INTO out VALUES (?, ?)", (i, i))
                if i == base + 4 and len(attempts) == 1:
                    raise RuntimeError("boom halfway")
            db.execute("SELECT bgupdate_update_progress('writer', ?)", (json.dumps({"next": base + 10}),))
            if base + 10 >= 30:
                db.execute("SELECT bgupdate_end_update('writer')")
            return 10

        db.create_function("writer_fn", 2, handler)
        db.execute("SELECT bgupdate_config('retry_backoff_ms', '0')")
        db.execute("SELECT bgupdate_register_update_handler('writer', 'writer_fn')")
        db.execute("SELECT bgupdate_enqueue('writer')")
        out = self.assertStepFails("writer", "writer_fn", "attempt 1")
        self.assertFalse(out["failed"])
        self.assertEqual(self.one("SELECT count(*) FROM out"), 0, "the failed batch must leave nothing")
        self.assertEqual(self.one("SELECT progress_json FROM background_updates"), "{}")
        st = self.status()["writer"]
        self.assertEqual(st["attempts"], 1)
        # Python's sqlite3 reports any exception in a function as "user-defined
        # function raised exception"; the handler's name is what we can add.
        self.assertIn("writer_fn", st["last_error"] or "")
        self.step_until_done()
        self.assertEqual(self.one("SELECT count(*) FROM out"), 30)
        self.assertEqual(self.status()["writer"]["attempts"], 0)

    def test_step_inside_callers_transaction_is_undone_by_rollback(self):
        db = self.db
        db.executemany("INSERT INTO out VALUES (?, NULL)", [(i,) for i in range(1, 51)])
        db.execute("SELECT bgupdate_register_batched_update('fill', 'out', '[\"id\"]', 'v = id * 2')")
        db.execute("SELECT bgupdate_enqueue('fill')")
        db.execute("BEGIN")
        out = self.step()
        self.assertEqual(out["items"], 50)
        self.assertEqual(self.one("SELECT count(*) FROM out WHERE v IS NOT NULL"), 50)
        db.execute("ROLLBACK")
        self.assertEqual(self.one("SELECT count(*) FROM out WHERE v IS NOT NULL"), 0)
        self.assertEqual(self.queue_names(), ["fill"])
        self.assertEqual(self.one("SELECT progress_json FROM background_updates"), "{}")
        # And inside a transaction that commits, it sticks.
        db.execute("BEGIN")
        self.step_until_done()
        db.execute("COMMIT")
        self.assertEqual(self.one("SELECT count(*) FROM out WHERE v = id * 2"), 50)

    def test_five_failures_mark_failed_others_go_on_retry_clears(self):
        db = self.db
        db.executemany("INSERT INTO out VALUES (?, NULL)", [(i,) for i in range(1, 21)])
        broken = {"on": True}

        def flaky(progress_json, batch_size):
            if broken["on"]:
                raise ValueError("always broken")
            db.execute("SELECT bgupdate_end_update('flaky')")
            return 1

        db.create_function("flaky_fn", 2, flaky)
        db.execute("SELECT bgupdate_config('retry_backoff_ms', '0')")
        db.execute("SELECT bgupdate_register_update_handler('flaky', 'flaky_fn')")
        db.execute("SELECT bgupdate_enqueue('flaky', 1)")
        db.execute("SELECT bgupdate_register_batched_update('fine', 'out', '[\"id\"]', 'v = id')")
        db.execute("SELECT bgupdate_enqueue('fine', 2)")
        for attempt in range(1, 6):
            out = self.assertStepFails("flaky", f"attempt {attempt}")
            self.assertEqual(out["failed"], attempt == 5)
        self.assertIn("marked failed", out["error"])
        st = self.status()
        self.assertEqual(st["flaky"]["state"], "failed")
        self.assertEqual(st["flaky"]["attempts"], 5)
        self.assertEqual(st["fine"]["state"], "pending")
        # Unrelated updates still finish; the failed one stays queued.
        for _ in range(10):
            out = self.step()
            if out["update_name"] is None:
                break
            self.assertEqual(out["update_name"], "fine")
        self.assertEqual(self.one("SELECT bgupdate_has_completed('fine')"), 1)
        self.assertEqual(self.one("SELECT count(*) FROM out WHERE v = id"), 20)
        self.assertEqual(self.queue_names(), ["flaky"])
        self.assertEqual(self.one("SELECT bgupdate_has_completed_all()"), 0)
        # retry clears it.
        broken["on"] = False
        db.execute("SELECT bgupdate_retry('flaky')")
        self.assertEqual(self.status()["flaky"]["state"], "pending")
        self.step_until_done()
        self.assertEqual(self.one("SELECT bgupdate_has_completed_all()"), 1)


class NoBatchInsideABatch(DbTestCase):
    def test_a_handler_cannot_run_or_open_batches_from_inside_its_own(self):
        db = self.db
        seen, refused = [], []

        def outer(progress_json, batch_size):
            seen.append("outer")
            for sql in ("SELECT bgupdate_step()", "SELECT bgupdate_run(100)", "SELECT bgupdate_finish('other')",
                        "SELECT bgupdate_batch_begin()", "SELECT bgupdate_estimate('other')"):
                try:
                    db.execute(sql).fetchone()
                except sqlite3.OperationalError as e:
                    refused.append(str(e))
            db.execute("SELECT bgupdate_end_update('outer')")
            return 1

        def other(progress_json, batch_size):
            seen.append("other")
            db.execute("SELECT bgupdate_end_update('other')")
            return 1

        db.create_function("outer_fn", 2, outer)
        db.create_function("other_fn", 2, other)
        db.execute("SELECT bgupdate_register_update_handler('outer', 'outer_fn')")
        db.execute("SELECT bgupdate_register_update_handler('other', 'other_fn')")
        db.execute("SELECT bgupdate_enqueue('outer', 1)")
        db.execute("SELECT bgupdate_enqueue('other', 2)")
        out = self.step()
        self.assertEqual(out["update_name"], "outer")
        self.assertEqual(seen, ["outer"], "nothing ran inside the outer batch")
        self.assertEqual(len(refused), 5, refused)
        for message in refused:
            self.assertIn("cannot run inside a batch", message)
            self.assertIn("background update 'outer'", message)
        self.assertEqual(self.step()["update_name"], "other")
        self.assertEqual(self.one("SELECT bgupdate_has_completed_all()"), 1)
