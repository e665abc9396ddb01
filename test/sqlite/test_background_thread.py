"""The optional background thread: bgupdate_start()/bgupdate_stop()."""
import json
import os
import sqlite3
import subprocess
import sys
import textwrap
import time

from helpers import EXTENSION, DbTestCase, connect, wait_for


class BackgroundThread(DbTestCase):
    def setUp(self):
        super().setUp()
        db = self.db
        db.execute("CREATE TABLE t(id INTEGER PRIMARY KEY, a INT, b INT)")
        db.executemany("INSERT INTO t VALUES (?, ?, NULL)", [(i, i) for i in range(1, 20001)])
        db.execute("SELECT bgupdate_config('sleep_duration_ms', '5')")

    def test_updates_finish_by_themselves(self):
        db = self.db
        db.execute("SELECT bgupdate_register_batched_update('fill_b', 't', '[\"id\"]', 'b = a + 1')")
        db.execute("SELECT bgupdate_enqueue('fill_b')")
        self.assertEqual(self.one("SELECT bgupdate_start()"), 1)
        self.assertEqual(self.one("SELECT bgupdate_start()"), 0, "already running")
        try:
            self.assertTrue(wait_for(lambda: self.one("SELECT bgupdate_has_completed('fill_b')") == 1),
                            "the thread did not finish the update")
            self.assertEqual(self.one("SELECT count(*) FROM t WHERE b = a + 1"), 20000)
            # It keeps polling: work enqueued later is picked up too.
            db.execute("CREATE TABLE u(id INTEGER PRIMARY KEY, v INT)")
            db.execute("SELECT bgupdate_register_index_update('u_v', 'u_v_idx', 'u', '[\"v\"]')")
            db.execute("SELECT bgupdate_enqueue('u_v')")
            self.assertTrue(wait_for(lambda: self.one(
                "SELECT count(*) FROM sqlite_master WHERE name = 'u_v_idx'") == 1))
            self.assertEqual(self.status()["u_v"]["state"], "complete")
        finally:
            self.assertEqual(self.one("SELECT bgupdate_stop()"), 1)
        self.assertEqual(self.one("SELECT bgupdate_stop()"), 0, "not running any more")

    def test_generic_handlers_are_left_to_the_application(self):
        db = self.db
        calls = []

        def handler(progress, batch_size):
            calls.append(batch_size)
            db.execute("SELECT bgupdate_end_update('app_only')")
            return 1

        db.create_function("app_only_fn", 2, handler)
        db.execute("SELECT bgupdate_register_update_handler('app_only', 'app_only_fn')")
        db.execute("SELECT bgupdate_enqueue('app_only', 1)")
        db.execute("SELECT bgupdate_register_validate_constraint('noop', 'c', 't')")
        db.execute("SELECT bgupdate_enqueue('noop', 2)")
        db.execute("SELECT bgupdate_start()")
        try:
            self.assertTrue(wait_for(lambda: self.one("SELECT bgupdate_has_completed('noop')") == 1))
            self.assertEqual(self.one("SELECT bgupdate_has_completed('app_only')"), 0)
            self.assertEqual(calls, [])
            self.assertEqual(self.status()["app_only"]["attempts"], 0)
            out = self.step()
            self.assertEqual(out["update_name"], "app_only")
            self.assertTrue(out["all_done"])
        finally:
            db.execute("SELECT bgupdate_stop()")

    def test_disabled_thread_does_nothing(self):
        db = self.db
        db.execute("SELECT bgupdate_set_enabled(0)")
        db.execute("SELECT bgupdate_register_batched_update('fill_b', 't', '[\"id\"]', 'b = a + 1')")
        db.execute("SELECT bgupdate_enqueue('fill_b')")
        db.execute("SELECT bgupdate_start()")
        try:
            time.sleep(0.6)
            self.assertEqual(self.one("SELECT count(*) FROM t WHERE b IS NOT NULL"), 0)
            db.execute("SELECT bgupdate_set_enabled(1)")
            self.assertTrue(wait_for(lambda: self.one("SELECT bgupdate_has_completed('fill_b')") == 1))
        finally:
            db.execute("SELECT bgupdate_stop()")

    def test_in_memory_database_is_a_clear_error(self):
        mem = connect(":memory:")
        try:
            with self.assertRaises(sqlite3.Error) as cm:
                mem.execute("SELECT bgupdate_start()").fetchall()
            self.assertIn("in-memory", str(cm.exception))
            self.assertIn("bgupdate_step", str(cm.exception))
        finally:
            mem.close()

    def test_closing_the_connection_while_running_does_not_crash(self):
        # In a subprocess: a crash (the .so unloaded under the thread) would
        # show as a signal exit code instead of 0.
        script = textwrap.dedent(f"""
            import os, sqlite3, sys, time
            path, pause, mode = sys.argv[1], float(sys.argv[2]), sys.argv[3]
            db = sqlite3.connect(path, isolation_level=None)
            db.enable_load_extension(True)
            db.load_extension({EXTENSION!r})
            db.execute("SELECT bgupdate_config('sleep_enabled', 'false')")
            db.execute("SELECT bgupdate_config('update_duration_ms', '5')")
            db.execute("SELECT bgupdate_start()")
            time.sleep(pause)
            sys.path.insert(0, {os.path.dirname(os.path.abspath(__file__))!r})
            from helpers import wait_for
            threads = lambda: len(os.listdir("/proc/self/task"))
            # The kernel may list a thread for a moment after pthread_join
            # returned: wait for the count, with a deadline, not just once.
            if not wait_for(lambda: threads() >= 2, 10.0):
                sys.exit("the background thread is not running")
            if mode == "close":
                db.close()
            elif mode == "stop":
                db.execute("SELECT bgupdate_stop()")
            if mode in ("close", "stop"):
                # The thread is gone and no batch runs any more.
                if not wait_for(lambda: threads() == 1, 10.0):
                    sys.exit("a thread is still running after " + mode)
                plain = sqlite3.connect(path)
                count = lambda: plain.execute("SELECT count(*) FROM t WHERE b IS NOT NULL").fetchone()[0]
                before = count()
                time.sleep(0.3)
                if count() != before:
                    sys.exit("batches still ran after " + mode)
                plain.close()
            # mode "exit": leave it to interpreter shutdown
            print("ok")
        """)
        src = os.path.join(self.tmpdir, "closer.py")
        with open(src, "w") as f:
            f.write(script)
        big = os.path.join(self.tmpdir, "big.db")
        seed = connect(big)
        seed.execute("PRAGMA journal_mode=WAL")
        seed.execute("CREATE TABLE t(id INTEGER PRIMARY KEY, a INT, b INT)")
        seed.execute("WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 200000)"
                     " INSERT INTO t SELECT i, i, NULL FROM n")
        seed.execute("SELECT bgupdate_register_batched_update('fill_b', 't', '[\"id\"]', 'b = a + 1')")
        seed.execute("SELECT bgupdate_enqueue('fill_b')")
        seed.close()
        for pause, mode in [(0.0, "close"), (0.15, "close"), (0.4, "close"), (0.2, "exit"), (0.2, "stop")]:
            with self.subTest(pause=pause, mode=mode):
                p = subprocess.run([sys.executable, src, big, str(pause), mode], capture_output=True, text=True,
                                   timeout=60)
                self.assertEqual(p.returncode, 0, f"exit {p.returncode}: {p.stderr}")
                self.assertEqual(p.stdout.strip(), "ok")
        check = connect(big)
        try:
            done = check.execute("SELECT count(*) FROM t WHERE b = a + 1").fetchone()[0]
            left = check.execute("SELECT count(*) FROM t WHERE b IS NULL").fetchone()[0]
            self.assertEqual(done + left, 200000)
            self.assertGreater(done, 0, "the thread should have done some batches")
            self.assertEqual(check.execute("PRAGMA integrity_check").fetchone()[0], "ok")
        finally:
            check.close()
