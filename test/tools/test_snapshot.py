#!/usr/bin/python3
"""`bgupdate snapshot`: a full-schema snapshot of a migrated database whose
background updates have all run (PostgreSQL through the real pg_dump, SQLite
from sqlite_schema), refused while updates are pending. A fresh database
migrated from the new snapshot has the same schema as the original (compared
through each engine's catalog, not through the snapshot code), the same rows
the schema inserted, and snapshots to the same bytes. On SQLite and
PostgreSQL.

Run by test/tools/run.sh; ends with "N passed, N failed"."""
import json
import os
import subprocess
import sys
import tempfile
import unittest

from synapse_shaped import NEWEST, PG_ADMIN, register_handlers, sub_engine, tables_of, write_schema
from test_cli import TOOL

OK, ERROR, USAGE, REMAINING = 0, 1, 2, 3


def catalog(db):
    """The application's schema as the engine's catalog describes it (sets, so order does not matter)."""
    if db.kind == "sqlite":
        rows = db.sql("SELECT type, name, tbl_name, sql FROM sqlite_schema WHERE sql IS NOT NULL"
                      " AND name NOT LIKE 'sqlite_%%' AND name NOT LIKE 'bgupdate_%%' AND tbl_name NOT IN"
                      " ('background_updates', 'schema_version', 'schema_compat_version', 'applied_schema_deltas')")
        return {"objects": set(rows)}
    app = "n.nspname = 'public'"
    return {
        "columns": set(db.sql("SELECT table_name, column_name, data_type, is_nullable, column_default, is_identity,"
                              " identity_generation FROM information_schema.columns WHERE table_schema = 'public'")),
        "indexes": set(db.sql("SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = 'public'")),
        "constraints": set(db.sql("SELECT c.conname, c.conrelid::regclass::text, pg_get_constraintdef(c.oid)"
                                  f" FROM pg_constraint c JOIN pg_namespace n ON n.oid = c.connamespace WHERE {app}")),
        "views": set(db.sql("SELECT viewname, definition FROM pg_views WHERE schemaname = 'public'"
                            " AND viewname NOT IN ('background_updates', 'schema_version', 'schema_compat_version',"
                            " 'applied_schema_deltas')")),
        "functions": set(db.sql("SELECT p.proname, p.prosrc FROM pg_proc p JOIN pg_namespace n"
                                f" ON n.oid = p.pronamespace WHERE {app}")),
        "triggers": set(db.sql("SELECT t.tgname, pg_get_triggerdef(t.oid) FROM pg_trigger t JOIN pg_class c"
                               f" ON c.oid = t.tgrelid JOIN pg_namespace n ON n.oid = c.relnamespace"
                               f" WHERE {app} AND NOT t.tgisinternal")),
        "sequences": set(db.sql("SELECT sequencename, data_type FROM pg_sequences WHERE schemaname = 'public'")),
    }


def read(path, mode="r"):
    with open(path, mode) as f:
        return f.read()


class Base:
    KIND = None

    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory(prefix="bgupdate_snapshot_")
        self.addCleanup(self.tmp.cleanup)
        self.db = sub_engine(self.KIND, self.tmp.name, f"snap_{self._testMethodName}")
        self.addCleanup(self.db.close)
        self.schema = write_schema(os.path.join(self.tmp.name, "schema"))
        self.out = os.path.join(self.tmp.name, "new_schema")
        self.suffix = "postgres" if self.KIND == "postgres" else "sqlite"
        self.file = os.path.join(self.out, "full_schemas", str(NEWEST), f"full.sql.{self.suffix}")

    def tool(self, *args, db=None, expect=OK):
        r = subprocess.run([TOOL, args[0], "--db", (db or self.db).url, *args[1:]], capture_output=True, text=True,
                           timeout=120, stdin=subprocess.DEVNULL)
        self.assertEqual(r.returncode, expect, f"{args}: exit {r.returncode}\nstdout:\n{r.stdout}\nstderr:\n{r.stderr}")
        return r

    def migrated_and_done(self):
        self.tool("migrate", self.schema)
        register_handlers(self.db)
        self.db.sql("INSERT INTO users (name, admin) VALUES ('@a:x', TRUE), ('@b:x', FALSE)")
        self.tool("run")

    def test_refused_while_updates_are_pending(self):
        self.tool("migrate", self.schema)
        r = self.tool("snapshot", "--out", self.out, expect=REMAINING)
        self.assertIn("background updates are not complete: users_admin_fill", r.stderr)
        self.assertIn("nothing was written", r.stderr)
        j = json.loads(self.tool("snapshot", "--json", "--out", self.out, expect=REMAINING).stdout)
        self.assertEqual(sorted(j["pending"]), ["events_redacted_fill", "state_edges_touch", "users_admin_fill"])
        self.assertFalse(os.path.exists(self.out))
        # A database that was never migrated has nothing to snapshot.
        empty = sub_engine(self.KIND, self.tmp.name, f"snap_empty_{self.KIND}")
        self.addCleanup(empty.close)
        r = self.tool("snapshot", "--out", self.out, db=empty, expect=ERROR)
        self.assertIn("has no schema version", r.stderr)

    def test_a_fresh_database_from_the_snapshot_has_the_same_schema(self):
        self.migrated_and_done()
        self.db.sql("DELETE FROM users")  # the application's rows are not the schema's
        j = json.loads(self.tool("snapshot", "--json", "--out", self.out).stdout)
        self.assertEqual((j["file"], j["version"]), (self.file, NEWEST))
        self.assertEqual(j["tables"], len(tables_of(self.db)))
        self.assertEqual(j["rows"], 1)  # stream_positions' row, inserted by the schema
        self.assertTrue(any("03_module.py" in w for w in j["warnings"]))  # a skipped Python delta is named
        if self.KIND == "postgres":
            self.assertIn("pg_dump 15", j["made_by"])
        header, text = read(self.file).split("\n", 1)
        self.assertEqual(header, f"-- Full schema of version {NEWEST} ({self.suffix}), every background update complete: "
                                 "made by bgupdate snapshot.")
        for absent in ("bgupdate", "background_updates", "schema_version", "\nSET ", "\n\\", "TABLE public.",
                       "\n-- Name:", "setval('public."):
            self.assertNotIn(absent, text)
        if self.KIND == "postgres":  # a function's body is kept exactly
            self.assertIn("\n\n-- at the start of a line too\n", text)
            self.assertIn("PERFORM 1 FROM public.stream_positions;", text)
        self.assertIn("CREATE VIEW admins", text)
        self.assertIn("INSERT INTO", text)

        fresh = sub_engine(self.KIND, self.tmp.name, f"snap_fresh_{self.KIND}")
        self.addCleanup(fresh.close)
        out = json.loads(self.tool("migrate", "--json", self.out, db=fresh).stdout)
        self.assertEqual((out["snapshot_version"], out["version"], out["applied"]), (NEWEST, NEWEST, 0))
        self.assertEqual(catalog(fresh), catalog(self.db))
        self.assertEqual(fresh.sql("SELECT lock, stream_id FROM stream_positions"), [("X", 0)])
        # The queue is empty: every update had run before the snapshot.
        queue = ("bgupdate." if self.KIND == "postgres" else "") + "background_updates"
        self.assertEqual(fresh.sql(f"SELECT count(*) FROM {queue}"), [(0,)])
        # The original's later deltas are not due on the new database.
        again = json.loads(self.tool("migrate", "--json", self.schema, db=fresh).stdout)
        self.assertEqual((again["applied"], again["version"]), (0, NEWEST))
        # Made again, from either database: the same bytes (a stable order that diffs well).
        first = read(self.file, "rb")
        self.tool("snapshot", "--out", self.out, db=fresh, expect=ERROR)  # exists: not replaced without --force
        self.tool("snapshot", "--out", self.out, "--force", db=fresh)
        self.assertEqual(read(self.file, "rb"), first)

    def test_a_table_with_application_data_is_refused(self):
        self.migrated_and_done()
        r = self.tool("snapshot", "--out", self.out, "--max-table-rows", "1", expect=ERROR)
        self.assertIn("table", r.stderr)
        self.assertIn("users", r.stderr)
        self.assertIn("holds more than 1 rows", r.stderr)
        self.assertFalse(os.path.exists(self.file))
        self.tool("snapshot", "--out", self.out, "--max-table-rows", "2")


class SqliteSnapshot(Base, unittest.TestCase):
    KIND = "sqlite"


@unittest.skipUnless(PG_ADMIN, "BGUPDATE_TEST_PG is not set (test/tools/run.sh starts a server)")
class PostgresSnapshot(Base, unittest.TestCase):
    KIND = "postgres"

    def test_pg_dump_is_found_or_named(self):
        self.migrated_and_done()
        self.db.sql("DELETE FROM users")
        r = self.tool("snapshot", "--out", self.out, "--pg-dump", "/nonexistent/pg_dump", expect=ERROR)
        self.assertIn("no usable pg_dump", r.stderr)
        self.assertIn("/nonexistent/pg_dump: not found", r.stderr)
        # A pg_dump older than the server is not used.
        fake = os.path.join(self.tmp.name, "old_pg_dump")
        with open(fake, "w") as f:
            f.write("#!/bin/sh\necho 'pg_dump (PostgreSQL) 9.6.24'\n")
        os.chmod(fake, 0o755)
        r = self.tool("snapshot", "--out", self.out, "--pg-dump", fake, expect=ERROR)
        self.assertIn("version 9 is older than the server's 15", r.stderr)
        self.assertFalse(os.path.exists(self.file))


if __name__ == "__main__":
    result = unittest.main(exit=False, verbosity=2).result
    failed = len(result.failures) + len(result.errors)
    skipped = len(result.skipped)
    print(f"{result.testsRun - failed - skipped} passed, {failed + skipped} failed")
    sys.exit(1 if failed or skipped else 0)
