"""A key range fixed for an update (fixed_range, min_key, max_key) on SQLite:
a writer on its own connection inserts more rows between two batches than a
batch covers. Without the option the update follows the new rows and does
not end while the writer runs (documented); with it, the update ends after
the rows that were there when it started, whatever the writer does. The
interleaving is fixed (the writer inserts between steps), so the checks
count rows and steps, never time."""
import json

from helpers import DbTestCase, connect

BATCH = 50
START_ROWS = 1000
WRITER_ROWS_PER_BATCH = 3 * BATCH


class FixedKeyRange(DbTestCase):
    def setUp(self):
        super().setUp()
        db = self.db
        db.execute("CREATE TABLE t(id INTEGER PRIMARY KEY, b INT NOT NULL DEFAULT 0, note TEXT)")
        db.executemany("INSERT INTO t(id) VALUES (?)", [(i,) for i in range(1, START_ROWS + 1)])
        for k, v in (("default_batch_size", BATCH), ("max_batch_size", BATCH), ("sleep_enabled", 0)):
            db.execute("SELECT bgupdate_config(?, ?)", (k, str(v)))
        self.writer = connect(self.path, load=False)
        self.next_id = START_ROWS + 1

    def tearDown(self):
        self.writer.close()
        super().tearDown()

    def write(self):
        """The application's writer: more rows than one batch covers."""
        rows = [(i,) for i in range(self.next_id, self.next_id + WRITER_ROWS_PER_BATCH)]
        self.writer.executemany("INSERT INTO t(id) VALUES (?)", rows)
        self.next_id += WRITER_ROWS_PER_BATCH

    def run_with_writer(self, name, max_steps):
        """Steps `name` with the writer inserting after every batch; returns
        (steps taken, whether it completed)."""
        for n in range(1, max_steps + 1):
            out = self.step()
            self.assertNotIn("error", out, out)
            if out["done"]:
                return n, True
            self.write()
        return max_steps, False

    def test_without_the_option_the_update_follows_new_rows(self):
        self.db.execute("SELECT bgupdate_register_batched_update('bump', 't', '[\"id\"]', 'b = b + 1')")
        self.db.execute("SELECT bgupdate_enqueue('bump')")
        steps, done = self.run_with_writer("bump", 3 * START_ROWS // BATCH)
        self.assertFalse(done, "the writer outruns an update that follows new rows")
        st = self.status()["bump"]
        self.assertGreater(st["items_done"], START_ROWS)  # it went past the rows it started with
        # Once the writer stops, it catches up and ends: every row once.
        self.step_until_done()
        self.assertEqual(self.one("SELECT count(*) FROM t WHERE b <> 1"), 0)

    def test_fixed_range_ends_under_the_insert_load(self):
        self.db.execute("SELECT bgupdate_register_batched_update('bump', 't', '[\"id\"]', 'b = b + 1', NULL, 1)")
        self.db.execute("SELECT bgupdate_enqueue('bump')")
        steps, done = self.run_with_writer("bump", 3 * START_ROWS // BATCH)
        self.assertTrue(done, "a fixed range ends although the writer keeps inserting")
        self.assertLessEqual(steps, START_ROWS // BATCH + 1)
        self.assertEqual(self.one("SELECT count(*) FROM t WHERE id <= ? AND b <> 1", (START_ROWS,)), 0)
        self.assertEqual(self.one("SELECT count(*) FROM t WHERE id > ? AND b <> 0", (START_ROWS,)), 0)
        inserted = self.one("SELECT count(*) FROM t WHERE id > ?", (START_ROWS,))
        self.assertGreaterEqual(inserted, (steps - 1) * WRITER_ROWS_PER_BATCH)
        st = self.status()["bump"]
        self.assertEqual(st["total_estimate"], START_ROWS)  # measured against the range
        self.assertEqual(st["items_done"], START_ROWS)
        self.assertEqual(st["percent"], 100.0)

    def test_percent_and_eta_are_measured_against_the_range(self):
        self.db.execute("SELECT bgupdate_register_batched_update('bump', 't', '[\"id\"]', 'b = b + 1', NULL, 1)")
        self.db.execute("SELECT bgupdate_enqueue('bump')")
        self.step()
        self.write()
        self.step()
        st = self.status()["bump"]
        self.assertEqual(st["total_estimate"], START_ROWS)
        self.assertAlmostEqual(st["percent"], 100.0 * 2 * BATCH / START_ROWS, places=3)
        self.assertGreater(st["eta_seconds"], 0)  # rows left in the range at the measured rate
        progress = json.loads(self.one("SELECT progress_json FROM background_updates WHERE update_name='bump'"))
        self.assertEqual(progress["max_key"], [START_ROWS])  # captured by the first batch

    def test_given_bounds(self):
        self.db.execute("SELECT bgupdate_register_batched_update('bump', 't', '[\"id\"]', 'b = b + 1', NULL, 0,"
                        " '101', '[300]')")
        self.db.execute("SELECT bgupdate_enqueue('bump')")
        steps, done = self.run_with_writer("bump", 100)
        self.assertTrue(done)
        self.assertEqual(self.one("SELECT count(*) FROM t WHERE b = 1"), 200)
        self.assertEqual(self.one("SELECT min(id) || '-' || max(id) FROM t WHERE b = 1"), "101-300")
        self.assertEqual(self.status()["bump"]["total_estimate"], 200)

    def test_bad_bounds_are_refused_at_registration(self):
        self.assertSqlError("SELECT bgupdate_register_batched_update('x', 't', '[\"id\"]', 'b = 1', NULL, 0, '[1, 2]')",
                            (), "min_key of 'x' has 2 values but the key has 1 columns")
        self.assertSqlError("SELECT bgupdate_register_batched_update('x', 't', '[\"id\"]', 'b = 1', NULL, 0, '9', '[3]')",
                            (), "greater than its max_key")
        self.assertSqlError("SELECT bgupdate_register_batched_update('x', 't', '[\"id\"]', 'b = 1', NULL, 'maybe')",
                            (), "fixed_range must be a boolean")

    def test_validate_and_delete_with_a_fixed_range_ends_under_the_insert_load(self):
        db = self.db
        db.execute("CREATE TABLE parent(id INTEGER PRIMARY KEY)")
        db.execute("INSERT INTO parent VALUES (0)")
        db.execute("UPDATE t SET b = -1 WHERE id % 10 = 0")  # rows without a parent
        db.execute("SELECT bgupdate_register_validate_constraint_and_delete_rows('clean', 't', 't_b_fk',"
                   " '{\"foreign_key\": {\"referenced_table\": \"parent\", \"columns\": [[\"b\", \"id\"]]}}',"
                   " '[\"id\"]', 1)")
        db.execute("SELECT bgupdate_enqueue('clean')")
        steps, done = self.run_with_writer("clean", 3 * START_ROWS // BATCH)
        self.assertTrue(done)
        self.assertEqual(self.one("SELECT count(*) FROM t WHERE id <= ?", (START_ROWS,)), START_ROWS - START_ROWS // 10)
        self.assertEqual(self.one("SELECT count(*) FROM t WHERE b = -1"), 0)
