"""No harm to the foreground: lock timeout and statement timeout."""
import json
import time

from helpers import DbTestCase, connect


class Timeouts(DbTestCase):
    def setUp(self):
        super().setUp()
        db = self.db
        db.execute("CREATE TABLE t(id INTEGER PRIMARY KEY, a INT, b INT)")
        db.execute("WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 1000)"
                   " INSERT INTO t SELECT i, i, NULL FROM n")
        db.execute("SELECT bgupdate_register_batched_update('fill', 't', '[\"id\"]', 'b = a')")
        db.execute("SELECT bgupdate_enqueue('fill')")

    def test_lock_timeout_gives_up_quickly_and_restores_busy_timeout(self):
        db = self.db
        db.execute("PRAGMA busy_timeout = 4321")
        db.execute("SELECT bgupdate_config('lock_timeout_ms', '100')")
        other = connect(self.path, load=False)
        try:
            other.execute("BEGIN IMMEDIATE")  # the application holds the write lock
            other.execute("UPDATE t SET a = a WHERE id = 1")
            t0 = time.monotonic()
            out = self.step()  # BEGIN IMMEDIATE cannot get the lock: reported, never raised
            self.assertEqual((out["update_name"], out.get("lock_timeout"), out["all_done"]), (None, True, False), out)
            self.assertNotIn("error", out)
            self.assertLess(time.monotonic() - t0, 2.0, "must give up after about lock_timeout_ms")
            summary = json.loads(self.one("SELECT bgupdate_run(300)"))
            self.assertEqual(summary["failures"], 0, summary)
            self.assertGreaterEqual(summary["lock_timeouts"], 1, summary)
            self.assertEqual(summary["batches"], 0, summary)
            self.assertEqual(self.one("PRAGMA busy_timeout"), 4321, "the application's busy timeout is restored")
        finally:
            other.execute("ROLLBACK")
            other.close()
        self.assertEqual(self.status()["fill"]["attempts"], 0, "a lock timeout is not a failure")
        db.execute("SELECT bgupdate_resume('fill')")  # clears the backoff
        self.step_until_done()
        self.assertEqual(self.one("SELECT count(*) FROM t WHERE b = a"), 1000)

    def test_statement_timeout_cancels_a_long_batch(self):
        db = self.db
        slow = ("b = (WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 3000000)"
                " SELECT count(*) FROM c)")
        db.execute("SELECT bgupdate_register_batched_update('slow', 't', '[\"id\"]', ?)", (slow,))
        db.execute("SELECT bgupdate_pause('fill')")
        db.execute("SELECT bgupdate_enqueue('slow', -1)")
        db.execute("SELECT bgupdate_config('update_duration_ms', '20')")
        db.execute("SELECT bgupdate_config('statement_timeout_ms', '50')")
        # At the minimum batch size a timeout is a failure (smaller ones shrink first: test_health).
        db.execute("SELECT bgupdate_config('min_batch_size', '100')")
        t0 = time.monotonic()
        self.assertStepFails("slow", "statement timeout")
        self.assertLess(time.monotonic() - t0, 5.0)
        self.assertEqual(self.one("SELECT count(*) FROM t WHERE b IS NOT NULL"), 0)
        # The progress handler is gone again: a long query of the application runs unhindered.
        self.assertEqual(self.one("WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c"
                                  " WHERE x < 300000) SELECT count(*) FROM c"), 300000)
