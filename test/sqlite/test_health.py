"""Health checks on SQLite (WAL size, the application's health hook), on
hold as a state, shrink on timeout, max_batch_size and health pacing."""
import json
import os
import sqlite3
import time

from helpers import DbTestCase, connect


class Health(DbTestCase):
    def setUp(self):
        super().setUp()
        db = self.db
        db.execute("CREATE TABLE t(id INTEGER PRIMARY KEY, a INT, b INT)")
        db.execute("WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 1000)"
                   " INSERT INTO t SELECT i, i, NULL FROM n")
        db.execute("SELECT bgupdate_register_batched_update('fill', 't', '[\"id\"]', 'b = a * 2', 'b IS NULL')")
        db.execute("SELECT bgupdate_enqueue('fill')")
        db.execute("SELECT bgupdate_config('health_hold_ms', '1')")
        db.execute("SELECT bgupdate_config('health_check_interval_ms', '0')")  # no cache: signals seen at once

    def filled(self):
        return self.one("SELECT count(*) FROM t WHERE b IS NOT NULL")

    def assertAllFilledOnce(self):
        self.assertEqual(self.one("SELECT count(*) FROM t WHERE b = a * 2"), 1000)

    def step_after_hold(self):
        time.sleep(0.01)  # health_hold_ms is 1: the hold has ended
        return self.step()

    def test_hook_reason_holds_and_null_resumes(self):
        db = self.db
        reason = {"now": None}
        db.create_function("app_health", 1, lambda name: reason["now"])
        db.execute("SELECT bgupdate_config('health_hook', 'app_health')")
        db.execute("SELECT bgupdate_config('max_batch_size', '100')")
        self.step()
        done = self.filled()
        self.assertGreater(done, 0)
        reason["now"] = "nightly report running"
        out = self.step_after_hold()
        self.assertIn("nightly report running", out.get("on_hold", ""), out)
        self.assertEqual(out["items"], 0)
        st = self.status()["fill"]
        self.assertEqual(st["state"], "on_hold")
        self.assertIn("nightly report running", st["hold_reason"])
        self.assertIsNotNone(st["hold_until"])
        self.assertEqual(st["attempts"], 0, "a hold spends no attempt")
        self.assertEqual(self.filled(), done, "nothing runs on hold")
        hist = self.one("SELECT count(*) FROM bgupdate_history WHERE event = 'on_hold'")
        self.step_after_hold()  # still on hold, same reason: one history row
        self.assertEqual(self.one("SELECT count(*) FROM bgupdate_history WHERE event = 'on_hold'"), hist)
        reason["now"] = None
        self.step_after_hold()
        st = self.status()["fill"]
        self.assertEqual(st["state"], "running")
        self.assertIsNone(st["hold_reason"])
        self.step_until_done(between=lambda n: time.sleep(0.002))
        self.assertAllFilledOnce()

    def test_hold_waits_until_its_time(self):
        db = self.db
        db.execute("SELECT bgupdate_config('health_hold_ms', '60000')")
        db.create_function("app_health", 1, lambda name: "busy")
        db.execute("SELECT bgupdate_config('health_hook', 'app_health')")
        out = self.step()
        self.assertIn("busy", out["on_hold"])
        out = self.step()  # within the hold: not runnable, says when to come back
        self.assertIsNone(out["update_name"])
        self.assertGreater(out["retry_in_ms"], 50000)

    def test_a_failing_check_holds_fail_closed(self):
        db = self.db

        def broken(name):
            raise ValueError("monitoring is down")
        db.create_function("app_health", 1, broken)
        db.execute("SELECT bgupdate_config('health_hook', 'app_health')")
        out = self.step()
        self.assertIn("fail closed", out.get("on_hold", ""), out)
        st = self.status()["fill"]
        self.assertEqual((st["state"], st["attempts"]), ("on_hold", 0))
        self.assertEqual(self.filled(), 0)

    def test_wal_past_its_limit_holds_until_checkpointed(self):
        db = self.db
        db.execute("PRAGMA wal_autocheckpoint = 0")
        db.execute("CREATE TABLE filler(x BLOB)")
        db.execute("INSERT INTO filler SELECT randomblob(4096) FROM generate_series(1, 600)"
                   if False else
                   "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 600)"
                   " INSERT INTO filler SELECT randomblob(4096) FROM n")
        self.assertGreater(os.path.getsize(self.path + "-wal"), 2 * 1048576)
        db.execute("SELECT bgupdate_config('health_max_wal_mb', '1')")
        out = self.step()
        self.assertIn("WAL file size", out.get("on_hold", ""), out)
        self.assertIn("health_max_wal_mb", self.status()["fill"]["hold_reason"])
        self.assertEqual(self.filled(), 0)
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        out = self.step_after_hold()
        self.assertNotIn("on_hold", out)
        self.assertGreater(out["items"], 0)

    def test_timeout_shrinks_the_batch_before_it_counts(self):
        db = self.db
        # Each row costs about 2 ms: 100 rows time out at 50 ms, a dozen do not.
        db.create_function("slow_double", 1, lambda a: (time.sleep(0.002), a * 2)[1])
        db.execute("SELECT bgupdate_allow_function('slow_double')")  # fragments may call it
        db.execute("SELECT bgupdate_register_batched_update('slow', 't', '[\"id\"]', 'b = slow_double(a)',"
                   " 'b IS NULL')")
        db.execute("SELECT bgupdate_pause('fill')")
        db.execute("SELECT bgupdate_enqueue('slow', -1)")
        db.execute("SELECT bgupdate_config('update_duration_ms', '15')")
        db.execute("SELECT bgupdate_config('statement_timeout_ms', '50')")
        out = self.step()
        self.assertEqual(out.get("shrunk_to"), 50, out)
        self.assertNotIn("error", out)
        st = self.status()["slow"]
        self.assertEqual(st["attempts"], 0, "a shrink spends no attempt")
        self.assertIn("statement timeout", st["last_error"])
        shrinks = 1
        self.step()
        self.assertLessEqual(self.status()["slow"]["batch_size"], 50, "the retry is half the size")
        for _ in range(2000):
            out = self.step()
            shrinks += "shrunk_to" in out
            self.assertNotIn("error", out)
            if self.one("SELECT count(*) FROM background_updates WHERE update_name = 'slow'") == 0:
                break
        self.assertEqual(self.one("SELECT count(*) FROM t WHERE b = a * 2"), 1000, "every row once")
        self.assertEqual(self.one("SELECT total_failures FROM bgupdate_state WHERE update_name = 'slow'"), 0)
        self.assertGreaterEqual(shrinks, 1)

    def test_timeouts_at_the_minimum_count_toward_max_failures(self):
        db = self.db
        slow = ("b = (WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 3000000)"
                " SELECT count(*) FROM c)")
        db.execute("SELECT bgupdate_register_batched_update('slow', 't', '[\"id\"]', ?)", (slow,))
        db.execute("SELECT bgupdate_pause('fill')")
        db.execute("SELECT bgupdate_enqueue('slow', -1)")
        db.execute("SELECT bgupdate_config('update_duration_ms', '10')")
        db.execute("SELECT bgupdate_config('statement_timeout_ms', '30')")
        db.execute("SELECT bgupdate_config('default_batch_size', '8')")
        db.execute("SELECT bgupdate_config('retry_backoff_ms', '0')")
        sizes = [self.step().get("shrunk_to") for _ in range(3)]
        self.assertEqual(sizes, [4, 2, 1])
        out = self.step()
        self.assertIn("statement timeout", out.get("error", ""), out)
        self.assertEqual(self.status()["slow"]["attempts"], 1)
        self.assertEqual(self.filled(), 0)

    def test_max_batch_size_caps_the_controller(self):
        db = self.db
        db.execute("SELECT bgupdate_config('max_batch_size', '40')")
        db.execute("SELECT bgupdate_config('default_batch_size', '500')")
        sizes = []
        self.step_until_done(between=lambda n: sizes.append(self.status()["fill"]["batch_size"]))
        self.assertTrue(sizes and max(s for s in sizes if s) <= 40, sizes)
        self.assertAllFilledOnce()

    def test_health_pacing_runs_back_to_back(self):
        # Counted against the sleep itself, not against the machine's speed:
        # with a 5 s sleep a 2.5 s run has room for a batch before the sleep
        # (which the run's end cuts short) and one or two as it ends, while
        # health pacing (no sleep while green) runs all the rest in one
        # run whose limit they would need 500 s of sleep to reach.
        db = self.db
        db.execute("SELECT bgupdate_config('default_batch_size', '10')")
        db.execute("SELECT bgupdate_config('max_batch_size', '10')")
        db.execute("SELECT bgupdate_config('sleep_duration_ms', '5000')")
        slept = json.loads(self.one("SELECT bgupdate_run(2500)"))
        self.assertLessEqual(slept["batches"], 3, slept)
        db.execute("SELECT bgupdate_config('health_pacing', 'true')")
        paced = json.loads(self.one("SELECT bgupdate_run(120000)"))
        self.assertTrue(paced["all_done"], paced)
        self.assertEqual(slept["items"] + paced["items"], 1000, (slept, paced))
        self.assertAllFilledOnce()
