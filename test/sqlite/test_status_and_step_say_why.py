"""What a user can trust: step() says why nothing ran, status
never says running for an update that cannot run, finish() of an unknown name
fails, an old error is not presented on a completed update, a handler cannot
finish its own update."""
import json

from helpers import DbTestCase


class WhyNothingRuns(DbTestCase):
    def setUp(self):
        super().setUp()
        self.db.execute("CREATE TABLE t(id INTEGER PRIMARY KEY, a INT, b INT)")
        self.db.execute("WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 50)"
                        " INSERT INTO t SELECT i, i, NULL FROM n")

    def waiting(self, out):
        self.assertIsNone(out["update_name"], out)
        self.assertFalse(out["all_done"], out)
        return {w["update_name"]: w for w in out["waiting"]}

    def test_each_reason_is_named(self):
        db = self.db
        db.execute("SELECT bgupdate_enqueue('orphan', 1)")  # no handler yet
        db.execute("SELECT bgupdate_register_batched_update('held', 't', '[\"id\"]', 'b = a')")
        db.execute("SELECT bgupdate_enqueue('held', 2)")
        db.execute("SELECT bgupdate_pause('held')")
        db.execute("SELECT bgupdate_register_batched_update('after', 't', '[\"id\"]', 'b = a')")
        db.execute("SELECT bgupdate_enqueue('after', 3, 'held')")
        w = self.waiting(self.step())
        self.assertEqual(w["orphan"]["why"], "no_handler")
        self.assertIn("no handler is registered", w["orphan"]["reason"])
        self.assertEqual(w["held"]["why"], "paused")
        self.assertIn("resume('held')", w["held"]["reason"])
        self.assertEqual(w["after"]["why"], "waiting_for_dependency")
        self.assertIn("'held'", w["after"]["reason"])
        st = self.status()
        self.assertEqual((st["held"]["state"], st["after"]["state"]), ("paused", "waiting"))

    def test_backing_off_says_until_when_and_is_not_running(self):
        db = self.db
        calls = []

        def flaky(progress, batch_size):
            calls.append(1)
            if len(calls) == 2:
                raise ValueError("boom")
            db.execute("UPDATE t SET b = a WHERE id = ?", (len(calls),))
            return 1

        db.create_function("flaky", 2, flaky)
        db.execute("SELECT bgupdate_config('retry_backoff_ms', '60000')")
        db.execute("SELECT bgupdate_register_update_handler('f', 'flaky')")
        db.execute("SELECT bgupdate_enqueue('f')")
        self.assertEqual(self.step()["update_name"], "f")  # one good batch: it has run before
        self.assertStepFails("f", "flaky")
        w = self.waiting(self.step())
        self.assertEqual(w["f"]["why"], "backing_off")
        self.assertRegex(w["f"]["retry_at"], r"^\d{4}-\d\d-\d\dT")
        self.assertIn("until", w["f"]["reason"])
        self.assertEqual(self.status()["f"]["state"], "backing_off", "not 'running' while nothing runs it")

    def test_failed_is_named(self):
        db = self.db
        db.create_function("bad", 2, lambda p, n: 1 / 0)
        db.execute("SELECT bgupdate_config('max_failures', '1')")
        db.execute("SELECT bgupdate_register_update_handler('x', 'bad')")
        db.execute("SELECT bgupdate_enqueue('x')")
        self.assertTrue(self.assertStepFails("x")["failed"])
        self.assertEqual(self.waiting(self.step())["x"]["why"], "failed")


class NoSilentSuccess(DbTestCase):
    def test_finish_of_an_unknown_name_fails(self):
        msg = self.assertSqlError("SELECT bgupdate_finish('no_such_update')", (), "unknown background update",
                                  "no_such_update")
        self.assertNotIn("handler", msg)

    def test_finish_of_a_completed_update_succeeds(self):
        db = self.db
        db.create_function("once", 2, lambda p, n: db.execute("SELECT bgupdate_end_update('done_one')") and 1)
        db.execute("SELECT bgupdate_register_update_handler('done_one', 'once')")
        db.execute("SELECT bgupdate_enqueue('done_one')")
        self.step_until_done()
        db.execute("SELECT bgupdate_finish('done_one')")  # known (completed): nothing to do

    def test_completed_update_carries_no_current_error(self):
        db = self.db
        calls = []

        def once_flaky(p, n):
            calls.append(1)
            if len(calls) == 1:
                raise ValueError("first attempt broke")
            db.execute("SELECT bgupdate_end_update('u')")
            return 1

        db.create_function("once_flaky", 2, once_flaky)
        db.execute("SELECT bgupdate_register_update_handler('u', 'once_flaky')")
        db.execute("SELECT bgupdate_enqueue('u')")
        self.assertStepFails("u", "once_flaky")
        db.execute("SELECT bgupdate_finish('u')")
        st = self.status()["u"]
        self.assertEqual(st["state"], "complete")
        self.assertIsNone(st["last_error"])
        # ... but the failure stays in the history, with where its batch began.
        rows = db.execute("SELECT event, batches, items, detail FROM bgupdate_history WHERE update_name = 'u'"
                          " ORDER BY id").fetchall()
        self.assertEqual([r[0] for r in rows], ["failure", "batch", "complete"])
        failure = json.loads(rows[0][3])
        self.assertIn("once_flaky", failure["error"])
        self.assertEqual(failure["from"], {})
        batch = json.loads(rows[1][3])
        self.assertEqual((rows[1][1], rows[1][2], batch["from"], batch["to"]), (1, 1, {}, None))


class History(DbTestCase):
    def test_every_batch_is_recorded_with_its_key_range_and_bounded(self):
        db = self.db
        db.execute("CREATE TABLE t(id INTEGER PRIMARY KEY, a INT, b INT)")
        db.execute("WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 30)"
                   " INSERT INTO t SELECT i, i, NULL FROM n")
        db.execute("SELECT bgupdate_config('default_batch_size', '10')")
        db.execute("SELECT bgupdate_config('update_duration_ms', '1')")
        db.execute("SELECT bgupdate_config('max_batch_size', '10')")
        db.execute("SELECT bgupdate_register_batched_update('fill', 't', '[\"id\"]', 'b = a')")
        db.execute("SELECT bgupdate_enqueue('fill')")
        self.step_until_done()
        rows = db.execute("SELECT batches, items, duration_ms, detail FROM bgupdate_history"
                          " WHERE update_name = 'fill' AND event = 'batch' ORDER BY id").fetchall()
        self.assertGreater(len(rows), 1)
        self.assertEqual([r[0] for r in rows], list(range(1, len(rows) + 1)), "batch numbers in order")
        self.assertEqual(sum(r[1] for r in rows), 30, "items of all batches add up")
        self.assertTrue(all(r[2] >= 0 for r in rows))
        ranges = [json.loads(r[3]) for r in rows]
        self.assertEqual(ranges[0]["from"], {}, "the first batch starts where the update did")
        self.assertEqual(ranges[0]["to"], {"lower_bound": [10]})
        for before, after in zip(ranges, ranges[1:]):
            self.assertEqual(after["from"], before["to"], "each batch starts where the last ended")
        self.assertIsNone(ranges[-1]["to"])

    def test_batch_rows_are_bounded(self):
        db = self.db
        db.create_function("tick", 2, lambda p, n: 1)
        db.execute("SELECT bgupdate_register_update_handler('forever', 'tick')")
        db.execute("SELECT bgupdate_enqueue('forever')")
        # Pretend 1,199 batches ran: the next hundredth batch prunes to the newest 1,000.
        db.execute("INSERT INTO bgupdate_history (update_name, event, batches, items, duration_ms, detail, at)"
                   " WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 1199)"
                   " SELECT 'forever', 'batch', i, 1, 0, '{}', '' FROM n")
        db.execute("INSERT INTO bgupdate_state (update_name, paused, failed, attempts, total_failures, "
                   "next_attempt_at_ms, batches, items_done, avg_items, avg_duration_ms, total_duration_ms) "
                   "VALUES ('forever', 0, 0, 0, 0, 0, 1199, 1199, 1, 1, 1199)")
        self.step()
        n = self.one("SELECT count(*) FROM bgupdate_history WHERE update_name = 'forever' AND event = 'batch'")
        self.assertEqual(n, 1000)
        self.assertEqual(self.one("SELECT max(batches) FROM bgupdate_history WHERE update_name = 'forever'"), 1200)


class ReentrantFinish(DbTestCase):
    def test_handler_finishing_its_own_update_is_refused(self):
        db = self.db
        errors = []

        def selfish(p, n):
            try:
                db.execute("SELECT bgupdate_finish('me')")
            except Exception as e:
                errors.append(str(e))
            db.execute("SELECT bgupdate_end_update('me')")
            return 1

        db.create_function("selfish", 2, selfish)
        db.execute("SELECT bgupdate_register_update_handler('me', 'selfish')")
        db.execute("SELECT bgupdate_enqueue('me')")
        out = self.step()  # returns at once (it used to hang)
        self.assertEqual((out["update_name"], out["done"]), ("me", True), out)
        self.assertEqual(len(errors), 1)
        self.assertIn("inside the batch of background update 'me'", errors[0])
