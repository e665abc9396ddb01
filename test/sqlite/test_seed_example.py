"""Synapse's seed example, end to end: back-fill a new column from an old one
in batches while the application keeps writing, finish it, rebuild the table
with NOT NULL, drop the old column."""
import random

from helpers import DbTestCase


class SeedExample(DbTestCase):
    ROWS = 5000

    def test_backfill_rebuild_drop(self):
        db = self.db
        db.execute("CREATE TABLE t(id INTEGER PRIMARY KEY, old_column INT, payload TEXT)")
        db.execute("CREATE INDEX t_old ON t(old_column)")
        db.executemany("INSERT INTO t(id, old_column, payload) VALUES (?, ?, ?)",
                       [(i, i * 7 % 1000, f"row {i}") for i in range(1, self.ROWS + 1)])

        # Release N: add the nullable column; the new code writes both columns.
        db.execute("ALTER TABLE t ADD COLUMN new_column INT")
        db.execute("SELECT bgupdate_register_batched_update('populate_new_column', 't', '[\"id\"]',"
                   " 'new_column = old_column * 100', 'new_column IS NULL')")
        db.execute("SELECT bgupdate_enqueue('populate_new_column', 7706)")
        # A short target duration, so that the batches stay small and the
        # application gets to write between many of them.
        db.execute("SELECT bgupdate_config('update_duration_ms', '1')")
        self.assertEqual(self.one("SELECT bgupdate_has_completed('populate_new_column')"), 0)

        rng = random.Random(42)
        next_id = [self.ROWS + 1]

        def app_writes(_n):
            # New rows, written by the new code with both columns.
            for _ in range(3):
                v = rng.randrange(1000)
                db.execute("INSERT INTO t(id, old_column, payload, new_column) VALUES (?, ?, 'app', ?)",
                           (next_id[0], v, v * 100))
                next_id[0] += 1
            # Updates of existing rows, also keeping both columns in step.
            rid = rng.randrange(1, self.ROWS + 1)
            v = rng.randrange(1000)
            db.execute("UPDATE t SET old_column = ?, new_column = ? WHERE id = ?", (v, v * 100, rid))

        steps = self.step_until_done(between=app_writes)
        # The first batch has default_batch_size (100) rows, so there are at least
        # two, and the application wrote between them (how many more depends on speed).
        self.assertGreaterEqual(steps, 2, "the back-fill should take several batches")
        self.assertGreaterEqual(next_id[0] - 1 - self.ROWS, 3, "the application wrote while it ran")
        self.assertEqual(self.one("SELECT bgupdate_has_completed('populate_new_column')"), 1)
        self.assertEqual(self.one("SELECT count(*) FROM t WHERE new_column IS NULL"), 0)

        # Release N+1: make sure it is finished (a no-op now), then rebuild with NOT NULL.
        db.execute("SELECT bgupdate_finish('populate_new_column')")
        db.execute(
            "SELECT bgupdate_add_constraint_and_enqueue(7707, 'new_column_not_null', 't',"
            " 't_new_column_not_null', '{\"not_null\": \"new_column\"}', 't2',"
            " 'CREATE TABLE t2(id INTEGER PRIMARY KEY, old_column INT, payload TEXT, new_column INT,"
            " CONSTRAINT t_new_column_not_null CHECK (new_column IS NOT NULL))')")
        self.step_until_done()
        self.assertEqual(self.one("SELECT bgupdate_has_completed_all()"), 1)

        total = next_id[0] - 1
        self.assertEqual(self.one("SELECT count(*) FROM t"), total)
        self.assertEqual(self.one("SELECT count(*) FROM t WHERE new_column = old_column * 100"), total)
        # The rebuilt table kept its index and enforces the constraint.
        self.assertEqual(self.one("SELECT count(*) FROM sqlite_master WHERE type='index' AND name='t_old'"), 1)
        with self.assertRaises(Exception):
            db.execute("INSERT INTO t(id, old_column, payload) VALUES (?, 1, 'x')", (total + 1,))

        # Release N+2: the old column goes.
        db.execute("DROP INDEX t_old")
        db.execute("ALTER TABLE t DROP COLUMN old_column")
        cols = [r[1] for r in db.execute("PRAGMA table_info(t)")]
        self.assertEqual(cols, ["id", "payload", "new_column"])
        self.assertEqual(self.one("SELECT count(*) FROM t WHERE new_column IS NOT NULL"), total)
        self.assertEqual(self.one("PRAGMA integrity_check"), "ok")


if __name__ == "__main__":
    import unittest
    unittest.main()
