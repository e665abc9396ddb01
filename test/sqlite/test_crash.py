"""A kill -9 at any instant loses no committed batch and repeats none: a
non-idempotent back-fill (b = b + 1) killed mid-run and resumed must leave
every row incremented exactly once."""
import json
import os
import signal
import subprocess
import sys
import textwrap
import time

from helpers import EXTENSION, DbTestCase

ROWS = 200000


class KillNine(DbTestCase):
    def test_kill_mid_run_then_resume(self):
        db = self.db
        db.execute("CREATE TABLE t(id INTEGER PRIMARY KEY, b INT NOT NULL DEFAULT 0)")
        db.execute(f"WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {ROWS})"
                   " INSERT INTO t(id) SELECT i FROM n")
        # Some work per row (a 2 KB hex string), so that a run takes many 20 ms batches.
        db.execute("SELECT bgupdate_register_batched_update('inc', 't', '[\"id\"]',"
                   " 'b = b + 1 + 0 * length(hex(zeroblob(2000 + id % 2)))')")
        db.execute("SELECT bgupdate_enqueue('inc')")
        db.execute("SELECT bgupdate_config('sleep_enabled', 'false')")
        db.execute("SELECT bgupdate_config('update_duration_ms', '20')")
        script = textwrap.dedent(f"""
            import sqlite3, sys
            db = sqlite3.connect(sys.argv[1], isolation_level=None)
            db.execute("PRAGMA synchronous=FULL")
            db.enable_load_extension(True)
            db.load_extension({EXTENSION!r})
            print("started", flush=True)
            while True:
                db.execute("SELECT bgupdate_step()").fetchone()
                print("step", flush=True)
        """)
        src = os.path.join(self.tmpdir, "runner.py")
        with open(src, "w") as f:
            f.write(script)
        kills = 0
        for steps_before_kill, delay in ((2, 0.007), (3, 0.013), (2, 0.003), (4, 0.021)):
            before = self.status()["inc"]["items_done"]
            p = subprocess.Popen([sys.executable, src, self.path], stdout=subprocess.PIPE, text=True)
            self.assertEqual(p.stdout.readline().strip(), "started")
            for _ in range(steps_before_kill):
                p.stdout.readline()
            time.sleep(delay)  # most likely in the middle of a batch
            p.send_signal(signal.SIGKILL)
            p.wait()
            p.stdout.close()
            self.assertEqual(p.returncode, -signal.SIGKILL)
            if self.one("SELECT bgupdate_has_completed('inc')"):
                break
            kills += 1
            # Progress and data agree: rows up to the recorded bound are done once, the rest not at all.
            done = self.status()["inc"]["items_done"]
            self.assertGreater(done, before)
            self.assertEqual(self.one("SELECT count(*) FROM t WHERE b = 1"), done)
            self.assertEqual(self.one("SELECT count(*) FROM t WHERE b NOT IN (0, 1)"), 0)
            bound = json.loads(self.one("SELECT progress_json FROM background_updates"))["lower_bound"][0]
            self.assertEqual(self.one("SELECT max(id) FROM t WHERE b = 1"), bound)
        self.assertGreaterEqual(kills, 2, "the runs should have been killed before the end")
        self.step_until_done()
        self.assertEqual(self.one("SELECT count(*) FROM t WHERE b = 1"), ROWS)
        self.assertEqual(self.one("PRAGMA integrity_check"), "ok")
