"""Synapse's NOT NULL and foreign-key constraint scenarios
(BackgroundUpdateValidateConstraintTestCase), through the SQLite table
rebuild of bgupdate_add_constraint_and_enqueue."""
import sqlite3

from helpers import DbTestCase


class ConstraintRebuild(DbTestCase):
    def add_constraint(self, table, constraint_json, new_table, new_schema, name="test_bg_update",
                       constraint_name="test_constraint_name"):
        self.db.execute("SELECT bgupdate_add_constraint_and_enqueue(1000, ?, ?, ?, ?, ?, ?)",
                        (name, table, constraint_name, constraint_json, new_table, new_schema))
        self.step_until_done()

    def test_not_null_constraint(self):
        db = self.db
        db.execute("CREATE TABLE test_constraint(a INT PRIMARY KEY, b INT)")
        db.execute("CREATE INDEX test_index ON test_constraint(a)")
        db.executemany("INSERT INTO test_constraint VALUES (?, ?)", [(1, 1), (2, None), (3, 3)])
        self.add_constraint(
            "test_constraint", '{"not_null": "b"}', "test_constraint2",
            "CREATE TABLE test_constraint2(a INT PRIMARY KEY, b INT,"
            " CONSTRAINT test_constraint_name CHECK (b is NOT NULL))")
        self.assertCountEqual(db.execute("SELECT a, b FROM test_constraint").fetchall(), [(1, 1), (3, 3)])
        with self.assertRaises(sqlite3.IntegrityError):
            db.execute("INSERT INTO test_constraint VALUES (2, NULL)")
        self.assertEqual(self.one(
            "SELECT tbl_name FROM sqlite_master WHERE type='index' AND name='test_index'"), "test_constraint")
        self.assertIsNone(self.one("SELECT name FROM sqlite_master WHERE name='test_constraint2'"))
        self.assertEqual(self.one("SELECT bgupdate_has_completed('test_bg_update')"), 1)

    def test_foreign_key_constraint(self):
        db = self.db
        db.execute("PRAGMA foreign_keys=ON")
        db.execute("CREATE TABLE base_table(b INT PRIMARY KEY)")
        db.execute("CREATE TABLE test_constraint(a INT PRIMARY KEY, b INT NOT NULL)")
        db.execute("INSERT INTO base_table VALUES (1)")
        db.execute("INSERT INTO test_constraint VALUES (1, 1)")
        db.execute("INSERT INTO test_constraint VALUES (2, 2)")
        db.execute("INSERT INTO base_table VALUES (3)")
        db.execute("INSERT INTO test_constraint VALUES (3, 3)")
        self.add_constraint(
            "test_constraint",
            '{"foreign_key": {"referenced_table": "base_table", "columns": [["b", "b"]], "deferred": false}}',
            "test_constraint2",
            "CREATE TABLE test_constraint2(a INT PRIMARY KEY, b INT NOT NULL,"
            " CONSTRAINT test_constraint_name FOREIGN KEY (b) REFERENCES base_table (b))")
        self.assertCountEqual(db.execute("SELECT a, b FROM test_constraint").fetchall(), [(1, 1), (3, 3)])
        self.assertEqual(self.one("PRAGMA foreign_keys"), 1, "foreign_keys must be restored")
        with self.assertRaises(sqlite3.IntegrityError):
            db.execute("INSERT INTO test_constraint VALUES (2, 2)")
        self.assertEqual(db.execute("PRAGMA foreign_key_check").fetchall(), [])

    def test_rebuild_keeps_indexes_triggers_views(self):
        db = self.db
        db.execute("CREATE TABLE t(id INTEGER PRIMARY KEY, v INT, note TEXT)")
        db.execute("CREATE TABLE audit(id INTEGER, v INT)")
        db.execute("CREATE INDEX t_v ON t(v)")
        db.execute("CREATE UNIQUE INDEX t_note ON t(note)")
        db.execute("CREATE TRIGGER t_ins AFTER INSERT ON t BEGIN INSERT INTO audit VALUES (new.id, new.v); END")
        db.execute("CREATE VIEW t_big AS SELECT id, v FROM t WHERE v > 10")
        db.executemany("INSERT INTO t VALUES (?, ?, ?)", [(1, 5, "a"), (2, None, "b"), (3, 50, "c")])
        db.execute("DELETE FROM audit")
        legacy_before = self.one("PRAGMA legacy_alter_table")
        self.add_constraint(
            "t", '{"not_null": "v"}', "t_new",
            "CREATE TABLE t_new(id INTEGER PRIMARY KEY, v INT, note TEXT, CONSTRAINT t_v_nn CHECK (v IS NOT NULL))",
            name="t_v_not_null", constraint_name="t_v_nn")
        objects = dict(db.execute(
            "SELECT name, type FROM sqlite_master WHERE tbl_name IN ('t', 't_big') AND name <> 't'"))
        self.assertEqual(objects, {"t_v": "index", "t_note": "index", "t_ins": "trigger", "t_big": "view"})
        self.assertEqual(db.execute("SELECT id, v FROM t ORDER BY id").fetchall(), [(1, 5), (3, 50)])
        self.assertEqual(db.execute("SELECT id FROM t_big").fetchall(), [(3,)])
        db.execute("INSERT INTO t VALUES (4, 60, 'd')")
        self.assertEqual(db.execute("SELECT * FROM audit").fetchall(), [(4, 60)])
        with self.assertRaises(sqlite3.IntegrityError):
            db.execute("INSERT INTO t VALUES (5, 1, 'a')")  # unique index kept
        self.assertEqual(self.one("PRAGMA legacy_alter_table"), legacy_before)
        self.assertEqual(self.one("PRAGMA integrity_check"), "ok")
