"""The application-run batch protocol on PostgreSQL, from Python (psycopg2):
the application's transaction is the batch. batch_begin() inside BEGIN says
which update, its progress and batch size; the application runs its own
statements; batch_end() records items and progress; COMMIT makes both durable.
A rollback is recorded as a failure by the next batch_begin().
Prints "N passed, N failed" last. BGUPDATE_PG_DSN names the database."""
import json
import os
import sys
import unittest

import psycopg2

DSN = os.environ.get("BGUPDATE_PG_DSN", "dbname=postgres")


class ApplicationBatchesPg(unittest.TestCase):
    def setUp(self):
        self.db = psycopg2.connect(DSN)
        self.db.autocommit = True
        cur = self.db.cursor()
        cur.execute("CREATE EXTENSION IF NOT EXISTS bgupdate")
        cur.execute("DROP TABLE IF EXISTS py_rows")
        cur.execute("CREATE TABLE py_rows (id int PRIMARY KEY, a int, b int)")
        cur.execute("INSERT INTO py_rows SELECT g, g, NULL FROM generate_series(1, 2500) g")
        cur.execute("DELETE FROM bgupdate.background_updates")
        cur.execute("DELETE FROM bgupdate.update_state")
        cur.execute("DELETE FROM bgupdate.update_history")
        cur.execute("SET bgupdate.default_batch_size = 1000")
        cur.execute("SELECT bgupdate.register_application_update('py_fill')")
        cur.execute("SELECT bgupdate.enqueue('py_fill', 0)")

    def tearDown(self):
        self.db.close()

    def one(self, sql, params=None):
        cur = self.db.cursor()
        cur.execute(sql, params)
        return cur.fetchone()[0]

    def test_loop_runs_the_update_to_completion(self):
        batches = 0
        while True:
            cur = self.db.cursor()
            cur.execute("BEGIN")
            cur.execute("SELECT bgupdate.batch_begin()")
            batch = cur.fetchone()[0]
            if batch["update_name"] is None:
                cur.execute("COMMIT")
                break
            last = batch["progress"].get("last_id", 0)
            cur.execute("SELECT id FROM py_rows WHERE id > %s ORDER BY id LIMIT %s", (last, batch["batch_size"]))
            ids = [r[0] for r in cur.fetchall()]
            if ids:
                cur.execute("UPDATE py_rows SET b = a * 2 WHERE id > %s AND id <= %s", (last, ids[-1]))
            done = len(ids) < batch["batch_size"]
            cur.execute("SELECT bgupdate.batch_end(%s, %s, %s)",
                        (len(ids), json.dumps({"last_id": ids[-1] if ids else last}), done))
            out = cur.fetchone()[0]
            cur.execute("COMMIT")
            self.assertNotIn("error", out)
            batches += 1
            if out["all_done"]:
                break
        self.assertGreater(batches, 1)
        self.assertEqual(self.one("SELECT count(*) FROM py_rows WHERE b = a * 2"), 2500)
        self.assertTrue(self.one("SELECT bgupdate.has_completed('py_fill')"))
        self.assertEqual(self.one("SELECT state FROM bgupdate.status WHERE update_name = 'py_fill'"), "complete")

    def test_rollback_is_recorded_as_a_failure_and_loses_nothing(self):
        cur = self.db.cursor()
        cur.execute("BEGIN")
        cur.execute("SELECT bgupdate.batch_begin()")
        self.assertEqual(cur.fetchone()[0]["update_name"], "py_fill")
        cur.execute("UPDATE py_rows SET b = -1")
        with self.assertRaises(psycopg2.Error) as cm:
            cur.execute("SELECT bgupdate.batch_fail('row 7 looked wrong')")
        self.assertIn("row 7 looked wrong", str(cm.exception))
        cur.execute("ROLLBACK")
        self.assertEqual(self.one("SELECT count(*) FROM py_rows WHERE b IS NOT NULL"), 0)
        # The next batch_begin() records the failure; the update backs off.
        cur.execute("BEGIN")
        cur.execute("SELECT bgupdate.batch_begin()")
        out = cur.fetchone()[0]
        cur.execute("COMMIT")
        self.assertIsNone(out["update_name"], out)
        self.assertEqual(out["waiting"][0]["why"], "backing_off")
        self.assertEqual(self.one("SELECT attempts FROM bgupdate.status WHERE update_name = 'py_fill'"), 1)
        detail = json.loads(self.one("SELECT detail FROM bgupdate.update_history WHERE event = 'failure'"))
        self.assertIn("row 7 looked wrong", detail["error"])
        self.assertEqual(self.one("SELECT progress_json FROM bgupdate.background_updates"), "{}")

    def test_commit_without_batch_end_is_refused_and_commits_nothing(self):
        cur = self.db.cursor()
        cur.execute("BEGIN")
        cur.execute("SELECT bgupdate.batch_begin()")
        cur.execute("UPDATE py_rows SET b = a * 2 WHERE id <= 10")
        with self.assertRaises(psycopg2.Error) as cm:
            cur.execute("COMMIT")
        self.assertEqual(cm.exception.pgcode, "25000")
        self.assertIn("still open", str(cm.exception))
        self.assertEqual(self.one("SELECT count(*) FROM py_rows WHERE b IS NOT NULL"), 0,
                         "the batch's work was not committed without its progress")
        cur.execute("BEGIN")
        cur.execute("SELECT bgupdate.batch_begin()")  # records the failure; the update now backs off
        cur.execute("COMMIT")
        self.assertEqual(self.one("SELECT attempts FROM bgupdate.status WHERE update_name = 'py_fill'"), 1,
                         "the refused commit counts as a failed attempt")

    def test_rollback_to_a_savepoint_before_the_batch_abandons_it(self):
        cur = self.db.cursor()
        cur.execute("BEGIN")
        cur.execute("SAVEPOINT before")
        cur.execute("SELECT bgupdate.batch_begin()")
        cur.execute("UPDATE py_rows SET b = a * 2 WHERE id <= 10")
        cur.execute("ROLLBACK TO SAVEPOINT before")
        cur.execute("SELECT bgupdate.step()")  # no batch is open any more: not refused
        cur.execute("COMMIT")  # nothing open: the commit goes through
        self.assertEqual(self.one("SELECT count(*) FROM py_rows WHERE b IS NOT NULL"), 0)
        cur.execute("BEGIN")
        cur.execute("SELECT bgupdate.batch_begin()")  # records the failure; the update now backs off
        cur.execute("COMMIT")
        detail = json.loads(self.one("SELECT detail FROM bgupdate.update_history WHERE event = 'failure'"))
        self.assertIn("savepoint", detail["error"])

    def test_one_batch_per_transaction(self):
        cur = self.db.cursor()
        cur.execute("BEGIN")
        cur.execute("SELECT bgupdate.batch_begin()")
        cur.execute("SAVEPOINT s")
        with self.assertRaises(psycopg2.Error) as cm:
            cur.execute("SELECT bgupdate.end_update('py_fill')")
        self.assertIn("batch_end", str(cm.exception))
        cur.execute("ROLLBACK TO SAVEPOINT s")
        cur.execute("SELECT bgupdate.batch_end(0)")
        with self.assertRaises(psycopg2.Error) as cm:
            cur.execute("SELECT bgupdate.batch_begin()")
        self.assertIn("one batch per transaction", str(cm.exception))
        cur.execute("ROLLBACK")
        # The claim went with the transaction: the next transaction gets the update again.
        other = psycopg2.connect(DSN)
        try:
            ocur = other.cursor()
            ocur.execute("SELECT bgupdate.batch_begin()")
            self.assertEqual(ocur.fetchone()[0]["update_name"], "py_fill")
            other.rollback()
        finally:
            other.close()

    def test_outside_a_transaction_block_is_a_clear_error(self):
        with self.assertRaises(psycopg2.Error) as cm:
            self.one("SELECT bgupdate.batch_begin()")
        self.assertEqual(cm.exception.pgcode, "25P01")
        self.assertIn("BEGIN", str(cm.exception))

    def test_errors_carry_sqlstates(self):
        with self.assertRaises(psycopg2.Error) as cm:
            self.one("SELECT bgupdate.finish('no_such_update')")
        self.assertEqual(cm.exception.pgcode, "42704")
        with self.assertRaises(psycopg2.Error) as cm:
            self.one("SELECT bgupdate.finish('py_fill')")
        self.assertEqual(cm.exception.pgcode, "55000")
        self.assertIn("run by the application", str(cm.exception))


if __name__ == "__main__":
    result = unittest.TextTestRunner(verbosity=2, stream=sys.stdout).run(
        unittest.defaultTestLoader.loadTestsFromTestCase(ApplicationBatchesPg))
    failed = len(result.failures) + len(result.errors)
    print(f"{result.testsRun - failed} passed, {failed} failed")
    sys.exit(1 if failed else 0)
