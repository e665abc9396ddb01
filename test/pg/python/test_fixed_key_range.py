"""A key range fixed for an update on PostgreSQL (fixed_range, min_key,
max_key), from Python (psycopg2): a writer on its own connection inserts
more rows between two batches than a batch covers. Without the option the
update follows the new rows and does not end while the writer runs
(documented); with it, the update ends after the rows there when it started.
The interleaving is fixed (the writer commits between steps), so the checks
count rows and steps, never time. Prints "N passed, N failed" last.
BGUPDATE_PG_DSN names the database."""
import os
import sys
import unittest

import psycopg2

DSN = os.environ.get("BGUPDATE_PG_DSN", "dbname=postgres")
BATCH = 50
START_ROWS = 1000
WRITER_ROWS_PER_BATCH = 3 * BATCH


class FixedKeyRangePg(unittest.TestCase):
    def setUp(self):
        self.db = psycopg2.connect(DSN)
        self.db.autocommit = True
        self.writer = psycopg2.connect(DSN)
        self.writer.autocommit = True
        cur = self.db.cursor()
        cur.execute("CREATE EXTENSION IF NOT EXISTS bgupdate")
        cur.execute("DROP TABLE IF EXISTS fk_rows")
        cur.execute("CREATE TABLE fk_rows (id bigint PRIMARY KEY, b int NOT NULL DEFAULT 0)")
        cur.execute("INSERT INTO fk_rows (id) SELECT g FROM generate_series(1, %s) g", (START_ROWS,))
        cur.execute("ANALYZE fk_rows")
        for t in ("background_updates", "update_state", "update_history", "update_registry"):
            cur.execute(f"DELETE FROM bgupdate.{t}")
        for k, v in (("default_batch_size", BATCH), ("max_batch_size", BATCH), ("sleep_enabled", "off")):
            cur.execute(f"SET bgupdate.{k} = '{v}'")
        self.next_id = START_ROWS + 1

    def tearDown(self):
        self.writer.close()
        self.db.close()

    def one(self, sql, params=None):
        cur = self.db.cursor()
        cur.execute(sql, params)
        return cur.fetchone()[0]

    def write(self):
        cur = self.writer.cursor()
        cur.execute("INSERT INTO fk_rows (id) SELECT g FROM generate_series(%s, %s) g",
                    (self.next_id, self.next_id + WRITER_ROWS_PER_BATCH - 1))
        self.next_id += WRITER_ROWS_PER_BATCH

    def run_with_writer(self, max_steps):
        for n in range(1, max_steps + 1):
            out = self.one("SELECT bgupdate.step()")
            self.assertNotIn("error", out, out)
            if out["done"]:
                return n, True
            self.write()
        return max_steps, False

    def status(self, name):
        cur = self.db.cursor()
        cur.execute("SELECT items_done, total_estimate, percent, eta_seconds FROM bgupdate.status"
                    " WHERE update_name = %s", (name,))
        return cur.fetchone()

    def test_without_the_option_the_update_follows_new_rows(self):
        self.one("SELECT bgupdate.register_batched_update('bump', 'fk_rows', ARRAY['id'], 'b = b + 1') IS NULL")
        self.one("SELECT bgupdate.enqueue('bump') IS NULL")
        steps, done = self.run_with_writer(3 * START_ROWS // BATCH)
        self.assertFalse(done, "the writer outruns an update that follows new rows")
        self.assertGreater(self.status("bump")[0], START_ROWS)
        self.one("SELECT bgupdate.finish('bump') IS NULL")  # the writer stopped: it catches up
        self.assertEqual(self.one("SELECT count(*) FROM fk_rows WHERE b <> 1"), 0)

    def test_fixed_range_ends_under_the_insert_load(self):
        self.one("SELECT bgupdate.register_batched_update('bump', 'fk_rows', ARRAY['id'], 'b = b + 1',"
                 " fixed_range => true) IS NULL")
        self.one("SELECT bgupdate.enqueue('bump') IS NULL")
        steps, done = self.run_with_writer(3 * START_ROWS // BATCH)
        self.assertTrue(done, "a fixed range ends although the writer keeps inserting")
        self.assertLessEqual(steps, START_ROWS // BATCH + 1)
        self.assertEqual(self.one("SELECT count(*) FROM fk_rows WHERE id <= %s AND b <> 1", (START_ROWS,)), 0)
        self.assertEqual(self.one("SELECT count(*) FROM fk_rows WHERE id > %s AND b <> 0", (START_ROWS,)), 0)
        self.assertGreaterEqual(self.one("SELECT count(*) FROM fk_rows WHERE id > %s", (START_ROWS,)),
                                (steps - 1) * WRITER_ROWS_PER_BATCH)
        items, total, percent, _ = self.status("bump")
        self.assertEqual((items, total, percent), (START_ROWS, START_ROWS, 100.0))

    def test_percent_is_measured_against_the_range(self):
        self.one("SELECT bgupdate.register_batched_update('bump', 'fk_rows', ARRAY['id'], 'b = b + 1',"
                 " fixed_range => true) IS NULL")
        self.one("SELECT bgupdate.enqueue('bump') IS NULL")
        self.one("SELECT bgupdate.step()")
        self.write()
        self.writer.cursor().execute("ANALYZE fk_rows")  # statistics now count the new rows too
        self.one("SELECT bgupdate.step()")
        items, total, percent, eta = self.status("bump")
        self.assertEqual(total, START_ROWS)  # the planner's estimate of the range, taken when it started
        self.assertAlmostEqual(percent, 100.0 * 2 * BATCH / START_ROWS, places=3)
        self.assertGreater(eta, 0)
        self.assertEqual(self.one("SELECT progress_json::jsonb->'max_key' FROM bgupdate.background_updates"),
                         [START_ROWS])

    def test_validate_and_delete_with_a_fixed_range(self):
        cur = self.db.cursor()
        cur.execute("ALTER TABLE fk_rows ADD COLUMN a int")
        cur.execute("UPDATE fk_rows SET a = CASE WHEN id % 10 = 0 THEN NULL ELSE id END")
        self.one("SELECT bgupdate.register_validate_constraint_and_delete_rows('nn', 'fk_rows', 'fk_a_nn',"
                 " '{\"not_null\": \"a\"}', ARRAY['id'], fixed_range => true) IS NULL")
        self.one("SELECT bgupdate.add_constraint_and_enqueue(0, 'nn', 'fk_rows', 'fk_a_nn', '{\"not_null\": \"a\"}') IS NULL")
        # The writer's rows satisfy the new constraint (it is enforced on new rows already).
        self.writer.cursor().execute("ALTER TABLE fk_rows ALTER COLUMN a SET DEFAULT 1")
        steps, done = self.run_with_writer(3 * START_ROWS // BATCH)
        self.assertTrue(done)
        self.assertEqual(self.one("SELECT count(*) FROM fk_rows WHERE a IS NULL"), 0)
        self.assertEqual(self.one("SELECT count(*) FROM fk_rows WHERE id <= %s", (START_ROWS,)),
                         START_ROWS - START_ROWS // 10)
        self.assertTrue(self.one("SELECT convalidated FROM pg_constraint WHERE conname = 'fk_a_nn'"))

    def test_given_bounds_outside_which_validation_fails_clearly(self):
        cur = self.db.cursor()
        cur.execute("ALTER TABLE fk_rows ADD COLUMN a int")
        cur.execute("UPDATE fk_rows SET a = CASE WHEN id IN (5, 900) THEN NULL ELSE id END")
        self.one("SELECT bgupdate.register_validate_constraint_and_delete_rows('nn', 'fk_rows', 'fk_a_nn',"
                 " '{\"not_null\": \"a\"}', ARRAY['id'], min_key => '1', max_key => '[100]') IS NULL")
        self.one("SELECT bgupdate.add_constraint_and_enqueue(0, 'nn', 'fk_rows', 'fk_a_nn', '{\"not_null\": \"a\"}') IS NULL")
        for _ in range(20):
            out = self.one("SELECT bgupdate.step()")
            if "error" in out:
                break
        self.assertIn("outside the key range given at registration", out.get("error", ""), out)
        self.assertEqual(out["sqlstate"], "23514")
        self.assertEqual(self.one("SELECT array_agg(id) FROM fk_rows WHERE a IS NULL"), [900])  # 5 deleted, 900 outside

if __name__ == "__main__":
    result = unittest.TextTestRunner(verbosity=2, stream=sys.stdout).run(
        unittest.defaultTestLoader.loadTestsFromTestCase(FixedKeyRangePg))
    failed = len(result.failures) + len(result.errors)
    print(f"{result.testsRun - failed} passed, {failed} failed")
    sys.exit(1 if failed else 0)
