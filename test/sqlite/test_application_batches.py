"""The application-run batch protocol: no callback into the
application. batch_begin() opens the atomic batch and says which update, its
progress and the batch size; the application runs its own statements;
batch_end() records items and progress (or done) and commits; a rollback or
batch_fail() records a failure. Works from any driver."""
import json
import sqlite3

from helpers import DbTestCase, connect


class ApplicationBatches(DbTestCase):
    def setUp(self):
        super().setUp()
        db = self.db
        db.execute("CREATE TABLE t(id INTEGER PRIMARY KEY, a INT, b INT)")
        db.execute("WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 250)"
                   " INSERT INTO t SELECT i, i, NULL FROM n")
        db.execute("SELECT bgupdate_config('default_batch_size', '100')")
        db.execute("SELECT bgupdate_register_application_update('fill')")
        db.execute("SELECT bgupdate_enqueue('fill')")

    def begin(self):
        return json.loads(self.one("SELECT bgupdate_batch_begin()"))

    def end(self, items, progress=None, done=False):
        return json.loads(self.one("SELECT bgupdate_batch_end(?, ?, ?)",
                                   (items, None if progress is None else json.dumps(progress), int(done))))

    def run_one_batch(self):
        """What an application's loop does: returns the batch_end() result, or None when nothing is open."""
        b = self.begin()
        if b["update_name"] is None:
            return None
        last = b["progress"].get("last_id", 0)
        rows = self.db.execute("SELECT id FROM t WHERE id > ? ORDER BY id LIMIT ?", (last, b["batch_size"])).fetchall()
        if rows:
            self.db.execute("UPDATE t SET b = a * 2 WHERE id > ? AND id <= ?", (last, rows[-1][0]))
        return self.end(len(rows), {"last_id": rows[-1][0] if rows else last}, done=len(rows) < b["batch_size"])

    def test_loop_runs_the_update_to_completion(self):
        first = self.begin()
        self.assertEqual((first["update_name"], first["progress"], first["batch_size"]), ("fill", {}, 100))
        self.assertTrue(self.db.in_transaction, "the batch's transaction stays open for the application")
        rows = self.db.execute("SELECT id FROM t ORDER BY id LIMIT 100").fetchall()
        self.db.execute("UPDATE t SET b = a * 2 WHERE id <= 100")
        out = self.end(len(rows), {"last_id": 100})
        self.assertEqual((out["update_name"], out["items"], out["done"]), ("fill", 100, False), out)
        while (out := self.run_one_batch()) and not out["done"]:
            pass
        self.assertTrue(out["all_done"], out)
        self.assertEqual(self.one("SELECT count(*) FROM t WHERE b = a * 2"), 250)
        self.assertEqual(self.one("SELECT bgupdate_has_completed('fill')"), 1)
        st = self.status()["fill"]
        self.assertEqual((st["state"], st["items_done"]), ("complete", 250))
        self.assertEqual(self.one("SELECT count(*) FROM bgupdate_history WHERE update_name = 'fill' AND event = 'batch'"),
                         st["batches"])

    def test_rollback_by_the_application_records_a_failure_and_undoes_the_batch(self):
        self.begin()
        self.db.execute("UPDATE t SET b = -1")
        self.db.execute("ROLLBACK")  # the application gave up on the batch
        out = self.end(250, {"last_id": 250})
        self.assertIn("the application rolled back the batch of background update 'fill'", out["error"])
        self.assertFalse(out["done"])
        self.assertEqual(self.one("SELECT count(*) FROM t WHERE b IS NOT NULL"), 0)
        st = self.status()["fill"]
        self.assertEqual((st["attempts"], st["state"]), (1, "backing_off"))
        self.assertEqual(self.one("SELECT progress_json FROM background_updates"), "{}", "progress unchanged")

    def test_rollback_then_the_next_batch_begin_records_the_failure(self):
        self.db.execute("SELECT bgupdate_config('retry_backoff_ms', '0')")
        self.begin()
        self.db.execute("UPDATE t SET b = -1")
        self.db.execute("ROLLBACK")
        # Not "a batch is already open": the rolled-back batch is recorded, and the next one opens.
        again = self.begin()
        self.assertEqual((again["update_name"], again["progress"]), ("fill", {}), again)
        self.assertEqual(self.status()["fill"]["attempts"], 1)
        failure = json.loads(self.one("SELECT detail FROM bgupdate_history WHERE event = 'failure'"))
        self.assertIn("rolled back the batch", failure["error"])
        self.assertEqual(self.end(0)["update_name"], "fill")

    def test_commit_instead_of_batch_end_is_undone_and_recorded(self):
        self.db.execute("SELECT bgupdate_config('retry_backoff_ms', '0')")
        self.begin()
        self.db.execute("UPDATE t SET b = a * 2 WHERE id <= 100")
        # Work without its progress must not commit (the rows would silently be done again).
        with self.assertRaises(sqlite3.IntegrityError):
            self.db.execute("COMMIT")
        self.assertFalse(self.db.in_transaction)
        self.assertEqual(self.one("SELECT count(*) FROM t WHERE b IS NOT NULL"), 0, "the COMMIT became a ROLLBACK")
        again = self.begin()
        self.assertEqual(again["update_name"], "fill", again)
        st = self.status()["fill"]
        self.assertEqual(st["attempts"], 1)
        self.assertIn("COMMIT instead of batch_end()", st["last_error"])
        # The application's own commits go through again once no batch is open.
        self.end(0)
        self.db.execute("BEGIN")
        self.db.execute("UPDATE t SET b = 7 WHERE id = 1")
        self.db.execute("COMMIT")
        self.assertEqual(self.one("SELECT b FROM t WHERE id = 1"), 7)

    def test_batch_fail_rolls_back_and_counts(self):
        self.begin()
        self.db.execute("UPDATE t SET b = -1")
        out = json.loads(self.one("SELECT bgupdate_batch_fail('row 7 looked wrong')"))
        self.assertIn("row 7 looked wrong", out["error"])
        self.assertEqual(self.one("SELECT count(*) FROM t WHERE b IS NOT NULL"), 0)
        self.assertEqual(self.status()["fill"]["attempts"], 1)
        history = json.loads(self.one("SELECT detail FROM bgupdate_history WHERE event = 'failure'"))
        self.assertEqual((history["error"], history["from"]), ("row 7 looked wrong", {}))

    def test_misuse_is_a_clear_error(self):
        self.assertSqlError("SELECT bgupdate_batch_end(1)", (), "no batch is open")
        self.begin()
        self.assertSqlError("SELECT bgupdate_batch_begin()", (), "already open", "'fill'")
        self.assertSqlError("SELECT bgupdate_batch_end(-1)", (), "items")  # argument check before anything is lost
        self.assertSqlError("SELECT bgupdate_end_update('fill')", (), "has a batch open", "batch_end")
        self.assertEqual(self.end(0, None, done=True)["done"], True)

    def test_step_and_the_background_thread_leave_it_to_the_application(self):
        out = json.loads(self.one("SELECT bgupdate_step()"))
        self.assertIsNone(out["update_name"])
        self.assertEqual(out["waiting"][0]["why"], "run_by_application")
        self.assertSqlError("SELECT bgupdate_finish('fill')", (), "run by the application")
        # ... and batch_begin() leaves declarative updates to step().
        self.db.execute("SELECT bgupdate_register_batched_update('decl', 't', '[\"id\"]', 'b = a')")
        self.db.execute("SELECT bgupdate_enqueue('decl', -1)")
        self.assertEqual(self.begin()["update_name"], "fill")
        self.end(0)

    def test_another_connection_holding_the_write_lock_is_a_lock_timeout(self):
        self.db.execute("SELECT bgupdate_config('lock_timeout_ms', '50')")
        other = connect(self.path, load=False)
        try:
            other.execute("BEGIN IMMEDIATE")
            out = self.begin()
            self.assertEqual((out["update_name"], out.get("lock_timeout")), (None, True), out)
        finally:
            other.execute("ROLLBACK")
            other.close()
        self.assertEqual(self.begin()["update_name"], "fill")
        self.end(0)


class ErrorsKeepTheirReason(DbTestCase):
    """What reaches last_error when the application's code fails: Python's
    sqlite3 passes SQLite a fixed text for any exception in a user function
    (the reason cannot get through it), so the record says so and where the
    reason can go; batch_fail(message) keeps it word for word."""

    def setUp(self):
        super().setUp()
        self.db.execute("CREATE TABLE t(id INTEGER PRIMARY KEY, a INT)")
        self.db.execute("INSERT INTO t VALUES (1, 1)")

    def test_a_python_handler_exception(self):
        def handler(progress, batch_size):
            raise ValueError("row 7 is bad")
        self.db.create_function("py_handler", 2, handler)
        self.db.execute("SELECT bgupdate_register_update_handler('py', 'py_handler')")
        self.db.execute("SELECT bgupdate_enqueue('py')")
        out = self.step()  # reported, not raised (Python's driver keeps no exception pending)
        self.assertIn("handler function 'py_handler' failed: user-defined function raised exception", out["error"])
        last = self.status()["py"]["last_error"]
        self.assertIn("Python's sqlite3 passes only this text", last)
        self.assertIn("bgupdate_batch_fail(str(exception))", last)

    def test_the_application_batch_keeps_the_reason(self):
        self.db.execute("SELECT bgupdate_register_application_update('app')")
        self.db.execute("SELECT bgupdate_enqueue('app')")
        self.one("SELECT bgupdate_batch_begin()")
        try:
            raise ValueError("row 7 is bad")
        except ValueError as e:
            self.one("SELECT bgupdate_batch_fail(?)", (str(e),))
        self.assertEqual(self.status()["app"]["last_error"], "row 7 is bad")
