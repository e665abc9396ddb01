"""Every handler kind, through SQL."""
import json
import sqlite3

from helpers import DbTestCase


class GenericHandler(DbTestCase):
    def test_generic_handler_runs_in_batches_and_ends(self):
        db = self.db
        db.execute("CREATE TABLE src(id INTEGER PRIMARY KEY, v INT)")
        db.execute("CREATE TABLE dst(id INTEGER PRIMARY KEY, v2 INT)")
        db.executemany("INSERT INTO src VALUES (?, ?)", [(i, i) for i in range(1, 251)])
        calls = []

        def handler(progress_json, batch_size):
            progress = json.loads(progress_json)
            last = progress.get("last_id", 0)
            calls.append((last, batch_size))
            rows = db.execute("SELECT id, v FROM src WHERE id > ? ORDER BY id LIMIT ?",
                              (last, batch_size)).fetchall()
            for rid, v in rows:
                db.execute("INSERT INTO dst VALUES (?, ?)", (rid, v * 2))
            if len(rows) < batch_size:
                db.execute("SELECT bgupdate_end_update('copy_src')")
            else:
                db.execute("SELECT bgupdate_update_progress('copy_src', ?)",
                           (json.dumps({"last_id": rows[-1][0]}),))
            return len(rows)

        db.create_function("copy_src_handler", 2, handler)
        db.execute("SELECT bgupdate_register_update_handler('copy_src', 'copy_src_handler')")
        db.execute("SELECT bgupdate_enqueue('copy_src', 1)")
        first = self.step()
        self.assertEqual(first["update_name"], "copy_src")
        self.assertEqual(first["batch_size"], 100)  # default_batch_size
        self.assertEqual(first["items"], 100)
        self.assertFalse(first["done"])
        self.assertEqual(json.loads(self.one(
            "SELECT progress_json FROM background_updates WHERE update_name='copy_src'")), {"last_id": 100})
        self.step_until_done()
        self.assertEqual(self.one("SELECT count(*) FROM dst"), 250)
        self.assertEqual(self.one("SELECT count(*) FROM dst JOIN src USING (id) WHERE v2 = v * 2"), 250)
        self.assertEqual(calls[0], (0, 100))
        self.assertEqual(self.one("SELECT bgupdate_has_completed('copy_src')"), 1)
        st = self.status()["copy_src"]
        self.assertEqual(st["state"], "complete")
        self.assertEqual(st["items_done"], 250)


class IndexHandler(DbTestCase):
    def setUp(self):
        super().setUp()
        self.db.execute("CREATE TABLE ev(id INTEGER PRIMARY KEY, room TEXT, ts INT, kind TEXT)")
        self.db.executemany("INSERT INTO ev(room, ts, kind) VALUES (?, ?, ?)",
                            [(f"r{i % 10}", i, "m" if i % 2 else "s") for i in range(500)])

    def index_sql(self, name):
        return self.one("SELECT sql FROM sqlite_master WHERE type='index' AND name=?", (name,))

    def test_index_with_where_unique_and_replaces(self):
        db = self.db
        db.execute("CREATE INDEX ev_room_old ON ev(room)")
        db.execute("SELECT bgupdate_register_index_update('ev_room_ts', 'ev_room_ts_idx', 'ev',"
                   " '[\"room\", \"ts\"]', 'kind = ''m''', 1, 0, 'ev_room_old')")
        db.execute("SELECT bgupdate_enqueue('ev_room_ts')")
        self.step_until_done()
        sql = self.index_sql("ev_room_ts_idx")
        self.assertIsNotNone(sql)
        self.assertIn("UNIQUE", sql.upper())
        self.assertIn("kind = 'm'", sql)
        self.assertIsNone(self.index_sql("ev_room_old"), "replaces_index should have been dropped")
        # The unique index is enforced on the partial rows.
        with self.assertRaises(sqlite3.IntegrityError):
            db.execute("INSERT INTO ev(room, ts, kind) VALUES ('r1', 1, 'm')")
        db.execute("INSERT INTO ev(room, ts, kind) VALUES ('r0', 0, 's')")  # outside the WHERE: allowed

    def test_psql_only_completes_without_building(self):
        self.db.execute("SELECT bgupdate_register_index_update('pg_only', 'ev_pg_only', 'ev',"
                        " '[\"ts\"]', NULL, 0, 1)")
        self.db.execute("SELECT bgupdate_enqueue('pg_only')")
        self.step_until_done()
        self.assertIsNone(self.index_sql("ev_pg_only"))
        self.assertEqual(self.one("SELECT bgupdate_has_completed('pg_only')"), 1)


class ValidateConstraint(DbTestCase):
    def test_validate_constraint_is_a_noop_on_sqlite(self):
        self.db.execute("CREATE TABLE c(a INT PRIMARY KEY, b INT)")
        self.db.execute("SELECT bgupdate_register_validate_constraint('validate_c', 'c_b_check', 'c')")
        self.db.execute("SELECT bgupdate_enqueue('validate_c')")
        out = self.step()
        self.assertEqual(out["update_name"], "validate_c")
        self.assertTrue(out["done"])
        self.assertTrue(out["all_done"])
        self.assertEqual(self.status()["validate_c"]["state"], "complete")


class ValidateAndDeleteRows(DbTestCase):
    def test_deletes_rows_that_break_not_null_in_batches(self):
        db = self.db
        db.execute("CREATE TABLE c(a INT PRIMARY KEY NOT NULL, b INT)")
        db.executemany("INSERT INTO c VALUES (?, ?)",
                       [(i, None if i % 7 == 0 else i) for i in range(1, 1001)])
        db.execute("SELECT bgupdate_config('default_batch_size', '100')")
        db.execute("SELECT bgupdate_register_validate_constraint_and_delete_rows('c_b_nn', 'c', 'c_b_nn',"
                   " '{\"not_null\": \"b\"}', '[\"a\"]')")
        db.execute("SELECT bgupdate_enqueue('c_b_nn')")
        steps = self.step_until_done()
        self.assertGreaterEqual(steps, 2)  # the first batch has default_batch_size rows
        self.assertEqual(self.one("SELECT count(*) FROM c WHERE b IS NULL"), 0)
        self.assertEqual(self.one("SELECT count(*) FROM c"), 1000 - 1000 // 7)

    def test_foreign_key_rows_deleted(self):
        db = self.db
        db.execute("CREATE TABLE base(b INT PRIMARY KEY)")
        db.execute("CREATE TABLE c(a INT PRIMARY KEY NOT NULL, b INT NOT NULL)")
        db.executemany("INSERT INTO base VALUES (?)", [(1,), (3,)])
        db.executemany("INSERT INTO c VALUES (?, ?)", [(1, 1), (2, 2), (3, 3)])
        db.execute("SELECT bgupdate_register_validate_constraint_and_delete_rows('c_fk', 'c', 'c_fk',"
                   " '{\"foreign_key\": {\"referenced_table\": \"base\", \"columns\": [[\"b\", \"b\"]],"
                   " \"deferred\": false}}', '[\"a\"]')")
        db.execute("SELECT bgupdate_enqueue('c_fk')")
        self.step_until_done()
        self.assertEqual(db.execute("SELECT a, b FROM c ORDER BY a").fetchall(), [(1, 1), (3, 3)])


class BatchedUpdate(DbTestCase):
    def test_composite_key_keyset(self):
        db = self.db
        db.execute("CREATE TABLE m(room TEXT NOT NULL, seq INT NOT NULL, v INT, w INT, PRIMARY KEY (room, seq))")
        db.executemany("INSERT INTO m VALUES (?, ?, ?, NULL)",
                       [(f"room{r}", s, r * 1000 + s) for r in range(7) for s in range(130)])
        db.execute("SELECT bgupdate_config('default_batch_size', '50')")
        db.execute("SELECT bgupdate_register_batched_update('fill_w', 'm', '[\"room\", \"seq\"]', 'w = v + 1')")
        db.execute("SELECT bgupdate_enqueue('fill_w')")
        first = self.step()
        self.assertEqual(first["items"], 50)
        # Only the first 50 rows in key order were touched.
        self.assertEqual(self.one("SELECT count(*) FROM m WHERE w IS NOT NULL"), 50)
        self.assertEqual(self.one(
            "SELECT count(*) FROM (SELECT w FROM m ORDER BY room, seq LIMIT 50) WHERE w IS NULL"), 0)
        self.step_until_done()
        self.assertEqual(self.one("SELECT count(*) FROM m WHERE w = v + 1"), 7 * 130)
        st = self.status()["fill_w"]
        self.assertEqual(st["items_done"], 7 * 130)
        self.assertEqual(st["state"], "complete")
