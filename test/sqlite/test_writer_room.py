"""A loop of bgupdate_step() with sleep off must leave the
application's writers room between batches. SQLite's busy handler sleeps
and polls, so without gaps a loop that begins its next batch at once keeps
the lock and a writer with a short busy timeout fails with "database is
locked" for as long as the back-fill runs (measured figures: bench/)."""
import json
import sqlite3
import threading
import time

from helpers import DbTestCase, connect

ROWS = 1_000_000
WRITER_BUSY_TIMEOUT_S = 1.5  # many times a batch's lock hold (update_duration_ms 50 here)


class Writer(threading.Thread):
    def __init__(self, path):
        super().__init__(daemon=True)
        self.path = path
        self.stop = threading.Event()
        self.ready = threading.Event()
        self.writes = 0
        self.locked = 0
        self.worst = 0.0

    def run(self):
        db = sqlite3.connect(self.path, isolation_level=None, timeout=WRITER_BUSY_TIMEOUT_S)
        db.execute("PRAGMA synchronous=OFF")
        self.ready.set()
        while not self.stop.is_set():
            t0 = time.monotonic()
            try:
                db.execute("INSERT INTO app_log(note) VALUES ('application write')")
                self.writes += 1
            except sqlite3.OperationalError as e:
                if "locked" not in str(e):
                    raise
                self.locked += 1
            self.worst = max(self.worst, time.monotonic() - t0)
            time.sleep(0.002)
        db.close()


class WriterRoom(DbTestCase):
    def setUp(self):
        super().setUp()
        db = self.db
        db.execute("CREATE TABLE t(id INTEGER PRIMARY KEY, old INT, new INT, payload TEXT)")
        db.execute("CREATE TABLE app_log(id INTEGER PRIMARY KEY, note TEXT)")
        db.execute("WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?)"
                   " INSERT INTO t SELECT i, i % 1000, NULL, printf('payload %08d', i) FROM n", (ROWS,))
        db.execute("SELECT bgupdate_config('sleep_enabled', 'false')")
        db.execute("SELECT bgupdate_config('update_duration_ms', '50')")

    def backfill_with_writer(self, db):
        writer = Writer(self.path)
        writer.start()
        writer.ready.wait()
        time.sleep(0.1)  # the application was writing before the back-fill began
        try:
            db.execute("SELECT bgupdate_register_batched_update('fill', 't', '[\"id\"]', 'new = old * 100')")
            db.execute("SELECT bgupdate_enqueue('fill')")
            batches = 0
            while True:
                out = json.loads(db.execute("SELECT bgupdate_step()").fetchone()[0])
                batches += 1 if out.get("update_name") else 0
                if out["all_done"]:
                    break
        finally:
            writer.stop.set()
            writer.join()
        self.assertEqual(self.one("SELECT count(*) FROM t WHERE new IS NOT old * 100"), 0, "every row back-filled")
        return writer, batches

    def test_step_loop_without_sleep_lets_writers_in(self):
        writer, batches = self.backfill_with_writer(self.db)
        self.assertGreater(batches, 3)
        self.assertEqual(writer.locked, 0,
                         f"{writer.locked} application writes gave up after {WRITER_BUSY_TIMEOUT_S} s "
                         f"(worst wait {writer.worst:.3f} s, {writer.writes} writes)")
        self.assertGreater(writer.writes, batches, "the writer got in between batches")

    def test_background_thread_lets_writers_in(self):
        db = self.db
        db.execute("SELECT bgupdate_register_batched_update('fill', 't', '[\"id\"]', 'new = old * 100')")
        writer = Writer(self.path)
        writer.start()
        writer.ready.wait()
        time.sleep(0.1)
        try:
            db.execute("SELECT bgupdate_start()")
            db.execute("SELECT bgupdate_enqueue('fill')")
            deadline = time.monotonic() + 60
            while not self.one("SELECT bgupdate_has_completed('fill')"):
                self.assertLess(time.monotonic(), deadline, "background thread did not finish")
                time.sleep(0.05)
            db.execute("SELECT bgupdate_stop()")
        finally:
            writer.stop.set()
            writer.join()
        self.assertEqual(self.one("SELECT count(*) FROM t WHERE new IS NOT old * 100"), 0)
        self.assertEqual(writer.locked, 0,
                         f"{writer.locked} application writes gave up (worst wait {writer.worst:.3f} s)")


if __name__ == "__main__":
    import unittest
    unittest.main()
