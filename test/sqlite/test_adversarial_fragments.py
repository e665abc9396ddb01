"""Adversarial inputs, each tried as an attacker
or a careless caller would: SQL fragments that smuggle a second statement or
swallow the key range, keys that may be NULL or repeat, and values that used
to be accepted and did the wrong thing. Each test checks the attempt is
refused with a clear error, or made harmless, and that no data changed."""
import json
import os
import sqlite3

from helpers import DbTestCase, connect

INT64_MAX = 2**63 - 1


class Fixture(DbTestCase):
    """t(id 1..40, v NULL); every test ends checking what it expects of t."""

    def setUp(self):
        super().setUp()
        self.db.execute("CREATE TABLE t(id INTEGER PRIMARY KEY, v INT)")
        self.db.executemany("INSERT INTO t VALUES (?, NULL)", [(i,) for i in range(1, 41)])
        self.db.execute("SELECT bgupdate_config('retry_backoff_ms', '0')")
        self.db.execute("SELECT bgupdate_config('default_batch_size', '10')")

    def untouched(self):
        self.assertEqual(self.one("SELECT count(*) FROM t"), 40, "rows were deleted")
        self.assertEqual(self.one("SELECT count(*) FROM t WHERE v IS NOT NULL"), 0, "rows were changed")

    def not_registered(self, name):
        self.assertIsNone(self.one("SELECT 1 FROM bgupdate_registry WHERE update_name = ?", (name,)))

    def register_batched(self, name, set_clause, where_clause=None):
        return self.db.execute("SELECT bgupdate_register_batched_update(?, 't', '[\"id\"]', ?, ?)",
                               (name, set_clause, where_clause))


class SmuggledStatements(Fixture):
    def test_where_clause_with_a_delete_runs_nothing_at_registration(self):
        self.assertSqlError("SELECT bgupdate_register_batched_update('x', 't', '[\"id\"]', 'v = 1', ?)",
                            ("TRUE); DELETE FROM t WHERE id > 18; SELECT (1",), "where_clause of 'x'")
        self.untouched()
        self.not_registered("x")

    def test_set_clause_with_a_second_statement(self):
        self.assertSqlError("SELECT bgupdate_register_batched_update('x', 't', '[\"id\"]', ?)",
                            ("v = 1; DELETE FROM t",), "set_clause of 'x'", "';'")
        self.untouched()
        self.not_registered("x")

    def test_index_where_clause_with_begin(self):
        self.assertSqlError("SELECT bgupdate_register_index_update('i', 't_v', 't', '[\"v\"]', ?)",
                            ("v > 0; BEGIN",), "where_clause of 'i'")
        self.not_registered("i")
        self.assertFalse(self.db.in_transaction)

    def test_condition_cannot_close_the_parenthesis_around_it(self):
        # (TRUE) OR (TRUE) would parse as a condition, and OR away the key range.
        self.assertSqlError("SELECT bgupdate_register_batched_update('x', 't', '[\"id\"]', 'v = 1', ?)",
                            ("TRUE) OR (TRUE",), "closes a parenthesis")
        self.not_registered("x")

    def test_set_list_cannot_hold_where_from_or_returning(self):
        for n, set_clause in enumerate(["v = 1 WHERE id = 5", "v = 1 FROM t AS o", "v = 1 RETURNING id",
                                        "v = 1 ORDER BY id LIMIT 1"]):
            with self.subTest(set_clause=set_clause):
                self.assertSqlError("SELECT bgupdate_register_batched_update(?, 't', '[\"id\"]', ?)",
                                    (f"x{n}", set_clause), "set_clause of")
                self.not_registered(f"x{n}")
        self.untouched()

    def test_unterminated_comment_or_string_is_refused(self):
        for n, (set_clause, what) in enumerate([("v = 1 /*", "comment"), ("v = 'a", "string"),
                                                ('v = "a', "quoted identifier")]):
            with self.subTest(set_clause=set_clause):
                self.assertSqlError("SELECT bgupdate_register_batched_update(?, 't', '[\"id\"]', ?)",
                                    (f"x{n}", set_clause), "unterminated " + what)
        self.untouched()

    def test_comment_only_fragment_is_empty(self):
        self.assertSqlError("SELECT bgupdate_register_batched_update('x', 't', '[\"id\"]', 'v = 1', '-- nothing')",
                            (), "where_clause of 'x' is empty")

    def test_trailing_line_comment_cannot_swallow_the_key_range(self):
        # Registration changes nothing; each batch keeps to its key range and filter.
        self.register_batched("c", "v = 1 --", "id % 2 = 0 --")
        self.untouched()
        self.db.execute("SELECT bgupdate_enqueue('c')")
        out = self.step()
        self.assertNotIn("error", out)
        self.assertEqual(self.one("SELECT group_concat(id) FROM t WHERE v = 1"), "2,4,6,8,10")
        self.step_until_done()
        self.assertEqual(self.one("SELECT count(*) FROM t WHERE v = 1"), 20)
        self.assertEqual(self.one("SELECT count(*) FROM t WHERE v = 1 AND id % 2 = 1"), 0)

    def test_typos_are_still_caught_without_running(self):
        self.assertSqlError("SELECT bgupdate_register_batched_update('x', 't', '[\"id\"]', 'nosuch = 1')",
                            (), "set_clause of 'x'", "nosuch")
        self.assertSqlError("SELECT bgupdate_register_batched_update('x', 't', '[\"id\"]', 'v = 1', 'nosuch > 0')",
                            (), "where_clause of 'x'", "nosuch")
        self.not_registered("x")

    def test_legitimate_fragments_still_register(self):
        self.register_batched("ok1", "v = (SELECT max(id) FROM t AS o WHERE o.id <= t.id) -- a comment\n",
                              "id IN (1, 2, 3) AND ';' <> '(' /* ) */")
        self.db.execute("SELECT bgupdate_register_index_update('ok2', 't_v', 't', '[\"v\"]', 'v > 0')")
        self.db.execute("SELECT bgupdate_enqueue('ok1')")
        self.db.execute("SELECT bgupdate_enqueue('ok2', 1)")
        self.step_until_done()
        self.assertEqual(self.one("SELECT group_concat(v) FROM t WHERE v IS NOT NULL"), "1,2,3")
        self.assertIn("WHERE (\nv > 0\n)", self.one("SELECT sql FROM sqlite_master WHERE name = 't_v'"))

    def test_stored_registration_with_a_smuggled_statement_is_refused_at_run_time(self):
        # A registry row written directly, bypassing registration's checks.
        spec = {"table": "t", "key_columns": ["id"], "set_clause": "v = 1",
                "where_clause": "TRUE); DELETE FROM t WHERE id > 18; SELECT (1"}
        self.db.execute("INSERT INTO bgupdate_registry (update_name, kind, spec_json, registered_at)"
                        " VALUES ('raw', 'batched_update', ?, '')", (json.dumps(spec),))
        self.db.execute("SELECT bgupdate_enqueue('raw')")
        self.assertStepFails("raw", "where_clause of 'raw'")
        self.untouched()

    def test_engine_refuses_a_second_statement_in_a_table_schema(self):
        self.db.execute("CREATE TABLE keep(x INT)")
        self.db.execute("CREATE TABLE c(a INTEGER PRIMARY KEY, b INT)")
        self.assertSqlError(
            "SELECT bgupdate_add_constraint_and_enqueue(1, 'c_nn', 'c', 'c_b_nn', '{\"not_null\": \"b\"}',"
            " 'c_new', 'CREATE TABLE c_new(a INTEGER PRIMARY KEY, b INT NOT NULL); DROP TABLE keep')",
            (), "more than one statement")
        self.assertEqual(self.one("SELECT count(*) FROM sqlite_master WHERE name = 'keep'"), 1)
        self.assertEqual(self.one("SELECT count(*) FROM sqlite_master WHERE name = 'c_new'"), 0)


class Keys(DbTestCase):
    def register(self, table, keys, name="k"):
        return self.db.execute("SELECT bgupdate_register_batched_update(?, ?, ?, 'v = 1')",
                               (name, table, json.dumps(keys)))

    def test_nullable_keys_are_refused(self):
        db = self.db
        # INT PRIMARY KEY is no rowid alias: SQLite lets it hold NULL.
        db.execute("CREATE TABLE a(k INT PRIMARY KEY, v INT)")
        db.execute("CREATE TABLE b(k INT UNIQUE, v INT)")
        for table in ("a", "b"):
            with self.subTest(table=table):
                self.assertSqlError("SELECT bgupdate_register_batched_update('k', ?, '[\"k\"]', 'v = 1')",
                                    (table,), "column 'k'", "may hold NULL")
        self.assertIsNone(self.one("SELECT 1 FROM bgupdate_registry"))

    def test_nullable_key_used_to_skip_rows_and_report_complete(self):
        # What the check prevents: rows with a NULL key are never touched.
        db = self.db
        db.execute("CREATE TABLE n(k INT PRIMARY KEY, v INT)")
        db.execute("INSERT INTO n VALUES (NULL, NULL), (NULL, NULL), (1, NULL)")
        self.assertSqlError("SELECT bgupdate_register_batched_update('k', 'n', '[\"k\"]', 'v = 1')", (),
                            "may hold NULL")

    def test_keys_that_are_not_unique_are_refused(self):
        db = self.db
        db.execute("CREATE TABLE d(id INTEGER PRIMARY KEY, g INT NOT NULL, e INT NOT NULL, v INT)")
        db.execute("CREATE UNIQUE INDEX d_e_partial ON d(e) WHERE e > 0")
        db.execute("CREATE UNIQUE INDEX d_g_expr ON d(g + 0)")
        for keys in (["g"], ["e"]):
            with self.subTest(keys=keys):
                self.assertSqlError("SELECT bgupdate_register_batched_update('k', 'd', ?, 'v = 1')",
                                    (json.dumps(keys),), "must be unique")
        self.assertIsNone(self.one("SELECT 1 FROM bgupdate_registry"))

    def test_unique_keys_pass(self):
        db = self.db
        db.execute("CREATE TABLE r(id INTEGER PRIMARY KEY, v INT)")                       # rowid alias
        db.execute("CREATE TABLE w(a TEXT, b INT, v INT, PRIMARY KEY (a, b)) WITHOUT ROWID")  # never NULL
        db.execute("CREATE TABLE u(a TEXT NOT NULL, b INT NOT NULL, v INT, UNIQUE (a))")  # unique subset
        db.execute("CREATE TABLE p(a INT NOT NULL PRIMARY KEY, v INT)")
        for n, (table, keys) in enumerate([("r", ["id"]), ("w", ["a", "b"]), ("u", ["a", "b"]), ("u", ["a"]),
                                           ("p", ["a"])]):
            with self.subTest(table=table, keys=keys):
                self.register(table, keys, f"k{n}")

    def test_validate_and_delete_rows_unique_columns_same_rule(self):
        db = self.db
        db.execute("CREATE TABLE c(a INT, b INT)")
        self.assertSqlError("SELECT bgupdate_register_validate_constraint_and_delete_rows('c1', 'c', 'c_nn',"
                            " '{\"not_null\": \"b\"}', '[\"a\"]')", (), "unique_columns of 'c1'", "may hold NULL")


class BoundKeys(DbTestCase):
    """A batch binds its keys to its statements' placeholders: keys of any
    content are values, and a fragment cannot read the bound ones."""

    AWKWARD = ["o'brien", "it''s", 'a"b"', "\u00fcn\u00efc\u00f8d\u00e9 \u2713 \U0001F600", "?1", "$1", ":k", "@k",
               "-- not a comment", "x'); DROP TABLE k; --", "", " ", "\\", "NULL"]

    def test_text_keys_with_quotes_and_unicode_are_each_done_once(self):
        db = self.db
        db.execute("CREATE TABLE k(name TEXT PRIMARY KEY NOT NULL, n INT NOT NULL DEFAULT 0)")
        db.executemany("INSERT INTO k(name) VALUES (?)", [(x,) for x in self.AWKWARD])
        db.execute("SELECT bgupdate_config('default_batch_size', '3')")
        db.execute("SELECT bgupdate_config('max_batch_size', '3')")
        db.execute("SELECT bgupdate_config('sleep_enabled', 'false')")
        db.execute("SELECT bgupdate_register_batched_update('k', 'k', '[\"name\"]', 'n = n + 1')")
        db.execute("SELECT bgupdate_enqueue('k')")
        self.step_until_done()
        self.assertEqual(dict(db.execute("SELECT name, n FROM k")), {x: 1 for x in self.AWKWARD})

    def test_integer_and_text_composite_keys_with_nulls_elsewhere(self):
        db = self.db
        db.execute("CREATE TABLE c(g INT NOT NULL, name TEXT NOT NULL, extra TEXT, n INT NOT NULL DEFAULT 0,"
                   " PRIMARY KEY (g, name)) WITHOUT ROWID")
        rows = [(g, x, None if g % 2 else x) for g in (-5, 0, 2**62) for x in self.AWKWARD]
        db.executemany("INSERT INTO c(g, name, extra) VALUES (?, ?, ?)", rows)
        db.execute("SELECT bgupdate_config('default_batch_size', '4')")
        db.execute("SELECT bgupdate_config('max_batch_size', '4')")
        db.execute("SELECT bgupdate_config('sleep_enabled', 'false')")
        db.execute("SELECT bgupdate_register_batched_update('c', 'c', '[\"g\", \"name\"]', 'n = n + 1',"
                   " 'extra IS NULL OR extra IS NOT NULL')")
        db.execute("SELECT bgupdate_enqueue('c')")
        self.step_until_done()
        self.assertEqual(self.one("SELECT count(*) FROM c WHERE n = 1"), len(rows))
        self.assertEqual(self.one("SELECT count(*) FROM c WHERE n <> 1"), 0)

    def test_fragments_cannot_hold_parameter_placeholders(self):
        self.db.execute("CREATE TABLE t(id INTEGER PRIMARY KEY, v INT)")
        for fragment in ("v = ?", "v = ?1", "v = :x", "v = @x", "v = $x"):
            with self.subTest(fragment=fragment):
                self.assertSqlError("SELECT bgupdate_register_batched_update('p', 't', '[\"id\"]', ?)",
                                    (fragment,), "set_clause of 'p'", "placeholder")
        self.assertSqlError("SELECT bgupdate_register_batched_update('p', 't', '[\"id\"]', 'v = 1', 'id > ?2')",
                            (), "where_clause of 'p'", "placeholder")
        self.assertIsNone(self.one("SELECT 1 FROM bgupdate_registry"))


class NoSilentWrongAccepts(Fixture):
    def generic(self, name, fn):
        self.db.create_function(name + "_fn", 2, fn)
        self.db.execute("SELECT bgupdate_register_update_handler(?, ?)", (name, name + "_fn"))
        self.db.execute("SELECT bgupdate_enqueue(?)", (name,))

    def test_handler_counts_that_are_negative_null_or_overflow(self):
        for name, value, words in [("neg", -5, "negative"), ("nul", None, "integer"),
                                   ("big", 1e300, "integer"), ("txt", "abc", "integer")]:
            with self.subTest(value=value):
                self.generic(name, lambda p, n, value=value: value)
                self.assertStepFails(name, words)
                self.db.execute("SELECT bgupdate_pause(?)", (name,))
                self.assertEqual(self.status()[name]["items_done"], 0)

    def test_items_done_never_wraps(self):
        self.generic("max", lambda p, n: INT64_MAX)
        self.assertNotIn("error", self.step())
        self.assertEqual(self.status()["max"]["items_done"], INT64_MAX)
        self.assertStepFails("max", "overflows")
        self.assertEqual(self.status()["max"]["items_done"], INT64_MAX)

    def test_hook_values_that_are_not_finite_or_too_large(self):
        self.register_batched("b", "v = 1")
        self.db.execute("SELECT bgupdate_enqueue('b')")
        # (SQLite stores a NaN result as NULL, which keeps the setting: PostgreSQL's suite tries NaN.)
        for n, (key, value) in enumerate([("duration_hook", float("-inf")), ("duration_hook", float("inf")),
                                          ("duration_hook", -1.0), ("default_batch_size_hook", 1e30),
                                          ("min_batch_size_hook", float("inf"))]):
            with self.subTest(key=key, value=value):
                fn = f"hook{n}"
                self.db.create_function(fn, 1, lambda name, value=value: value)
                self.db.execute("SELECT bgupdate_config(?, ?)", (key, fn))
                self.assertStepFails("b", fn)
                self.db.execute("SELECT bgupdate_config(?, '')", (key,))
        self.untouched()

    def test_bad_lower_bounds_are_errors_not_complete(self):
        self.register_batched("b", "v = 1")
        for n, bound in enumerate(["[null]", '["abc"]', "[1, 2]", "[]", "true", '{"a": 1}', '"abc"']):
            with self.subTest(bound=bound):
                name = f"b{n}"
                self.register_batched(name, "v = 1")
                self.db.execute("SELECT bgupdate_enqueue(?, 0, NULL, ?)", (name, '{"lower_bound": %s}' % bound))
                out = self.assertStepFails(name, "lower_bound")
                self.assertFalse(out["done"])
                self.assertTrue(self.one("SELECT count(*) FROM background_updates WHERE update_name = ?", (name,)))
                self.db.execute("SELECT bgupdate_pause(?)", (name,))
        self.untouched()

    def test_queue_refuses_non_integer_ordering(self):
        for bad in ("abc", 1.5, b"\x01"):
            with self.subTest(ordering=bad):
                self.assertSqlError("INSERT INTO background_updates (update_name, progress_json, ordering)"
                                    " VALUES ('q', '{}', ?)", (bad,), "ordering must be an integer")
        self.db.execute("INSERT INTO background_updates (update_name, progress_json, ordering) VALUES ('q', '{}', '7')")
        self.assertEqual(self.one("SELECT typeof(ordering) FROM background_updates WHERE update_name = 'q'"), "integer")
        self.assertSqlError("UPDATE background_updates SET ordering = 'abc'", (), "ordering must be an integer")

    def test_adopted_queue_table_gets_the_check_and_old_bad_rows_are_named(self):
        path = os.path.join(self.tmpdir, "synapse.db")
        plain = sqlite3.connect(path, isolation_level=None)
        plain.execute("CREATE TABLE background_updates (update_name TEXT NOT NULL, progress_json TEXT NOT NULL,"
                      " depends_on TEXT, ordering INT NOT NULL DEFAULT 0,"
                      " CONSTRAINT background_updates_uniqueness UNIQUE (update_name))")
        plain.execute("INSERT INTO background_updates VALUES ('old', '{}', NULL, 'abc')")
        plain.close()
        db = connect(path)
        try:
            with self.assertRaises(sqlite3.Error) as cm:
                db.execute("SELECT bgupdate_step()").fetchone()
            self.assertIn("'old' has ordering 'abc'", str(cm.exception))
            with self.assertRaises(sqlite3.Error) as cm:
                db.execute("INSERT INTO background_updates VALUES ('new', '{}', NULL, 'xyz')")
            self.assertIn("ordering must be an integer", str(cm.exception))
        finally:
            db.close()

    def test_other_bad_arguments(self):
        for sql, words in [("SELECT bgupdate_enqueue('e', 1e300)", "integer"),
                           ("SELECT bgupdate_enqueue('e', 'abc')", "integer"),
                           ("SELECT bgupdate_run(-1)", "negative"),
                           ("SELECT bgupdate_enqueue('e', 0, '')", "depends_on"),
                           ("SELECT bgupdate_register_batched_update('e', 't', '[]', 'v = 1')", "at least one"),
                           ("SELECT bgupdate_register_batched_update('e', 't', '[\"id\"]', NULL)", "NULL"),
                           ("SELECT bgupdate_register_batched_update('e', 't', '[\"id\"]', '   ')", "empty"),
                           ("SELECT bgupdate_register_index_update('e', 'i', 't', '[]')", "at least one"),
                           ("SELECT bgupdate_config('default_batch_size', '-3')", "at least"),
                           ("SELECT bgupdate_config('default_batch_size', '99999999999999999999')", "whole number")]:
            with self.subTest(sql=sql):
                self.assertSqlError(sql, (), words)
        self.assertIsNone(self.one("SELECT 1 FROM background_updates WHERE update_name = 'e'"))
        self.untouched()
