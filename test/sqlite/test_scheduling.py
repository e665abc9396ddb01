"""Scheduling through SQL: ordering, depends_on, missing dependency, cycles."""
from helpers import DbTestCase


class Scheduling(DbTestCase):
    def setUp(self):
        super().setUp()
        self.order = []
        db = self.db

        def make(name):
            def handler(progress_json, batch_size):
                self.order.append(name)
                db.execute("SELECT bgupdate_end_update(?)", (name,))
                return 1
            return handler

        for name in ["a", "b", "c", "d"]:
            db.create_function(f"h_{name}", 2, make(name))
            db.execute("SELECT bgupdate_register_update_handler(?, ?)", (name, f"h_{name}"))

    def test_ordering_then_name(self):
        db = self.db
        db.execute("SELECT bgupdate_enqueue('d', 5)")
        db.execute("SELECT bgupdate_enqueue('c', 1)")
        db.execute("SELECT bgupdate_enqueue('b', 5)")
        db.execute("SELECT bgupdate_enqueue('a', 9)")
        self.step_until_done()
        self.assertEqual(self.order, ["c", "b", "d", "a"])

    def test_depends_on_waits_and_missing_dependency_is_satisfied(self):
        db = self.db
        # 'a' runs first by ordering but waits for 'b'; 'c' depends on something never queued.
        db.execute("SELECT bgupdate_enqueue('a', 1, 'b')")
        db.execute("SELECT bgupdate_enqueue('b', 2)")
        db.execute("SELECT bgupdate_enqueue('c', 3, 'never_queued')")
        self.assertEqual(self.status()["a"]["state"], "waiting")
        self.assertEqual(self.status()["a"]["depends_on"], "b")
        self.step_until_done()
        self.assertEqual(self.order, ["b", "a", "c"])

    def test_synapse_style_insert_into_queue_table(self):
        db = self.db
        db.execute("INSERT INTO background_updates (ordering, update_name, depends_on, progress_json)"
                   " VALUES (7706, 'a', 'b', '{}')")
        db.execute("INSERT INTO background_updates (ordering, update_name, progress_json)"
                   " VALUES (7707, 'b', '{}')")
        self.step_until_done()
        self.assertEqual(self.order, ["b", "a"])

    def test_cycle_is_an_error_naming_it_and_others_still_run(self):
        db = self.db
        db.execute("SELECT bgupdate_enqueue('a', 1, 'b')")
        db.execute("SELECT bgupdate_enqueue('b', 2, 'a')")
        db.execute("SELECT bgupdate_enqueue('c', 3)")
        out = self.step()
        self.assertEqual(out["update_name"], "c")
        msg = self.assertSqlError("SELECT bgupdate_step()", (), "cycle", "a", "b")
        self.assertTrue("a -> b" in msg or "b -> a" in msg, msg)
        # Nothing else broke: breaking the cycle lets both run.
        db.execute("UPDATE background_updates SET depends_on = NULL WHERE update_name = 'b'")
        self.step_until_done()
        self.assertEqual(self.order, ["c", "b", "a"])

    def test_finish_runs_dependencies_first(self):
        db = self.db
        db.execute("SELECT bgupdate_enqueue('a', 1)")
        db.execute("SELECT bgupdate_enqueue('d', 9, 'b')")
        db.execute("SELECT bgupdate_enqueue('b', 5)")
        db.execute("SELECT bgupdate_finish('d')")
        self.assertEqual(self.order, ["b", "d"])
        self.assertEqual(self.queue_names(), ["a"])
