#!/usr/bin/python3
"""Logical databases split across physical ones (Synapse's main and state,
with common in every one): `migrate --db main=URL --db state=URL` gives each
physical database common and its own directories, all at the newest version;
each records which logical databases it holds, and a later run that would put
a logical database in the wrong physical one is refused with nothing applied;
status, check and wait work across the mapping. On SQLite and PostgreSQL.

Run by test/tools/run.sh; ends with "N passed, N failed"."""
import json
import os
import subprocess
import sys
import tempfile
import unittest

from synapse_shaped import (COMMON_TABLES, MAIN_TABLES, NEWEST, PG_ADMIN, STATE_TABLES, register_handlers,
                            sub_engine, tables_of, write_schema, write_tree)
from test_cli import TOOL

OK, ERROR, USAGE, REMAINING, BLOCKED, INCOMPATIBLE = 0, 1, 2, 3, 4, 5


class Base:
    KIND = None

    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory(prefix="bgupdate_split_")
        self.addCleanup(self.tmp.cleanup)
        self.main = sub_engine(self.KIND, self.tmp.name, f"main_{self._testMethodName}")
        self.state = sub_engine(self.KIND, self.tmp.name, f"state_{self._testMethodName}")
        self.addCleanup(self.main.close)
        self.addCleanup(self.state.close)
        self.schema = write_schema(os.path.join(self.tmp.name, "schema"))

    def run_tool(self, *args, expect=OK):
        r = subprocess.run([TOOL, *args], capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL)
        self.assertEqual(r.returncode, expect, f"{args}: exit {r.returncode}\nstdout:\n{r.stdout}\nstderr:\n{r.stderr}")
        return r

    def mapping(self, main=None, state=None):
        return ["--db", f"main={(main or self.main).url}", "--db", f"state={(state or self.state).url}"]

    def own(self, db, table):
        return ("bgupdate." if db.kind == "postgres" else "") + table

    def version(self, db):
        return db.sql(f"SELECT version FROM {self.own(db, 'schema_version')}")[0][0]

    def applied(self, db):
        return sorted(r[0] for r in db.sql(f"SELECT file FROM {self.own(db, 'applied_schema_deltas')}"))

    def recorded(self, db):
        table = "bgupdate.logical_databases" if db.kind == "postgres" else "bgupdate_logical_databases"
        return sorted(r[0] for r in db.sql(f"SELECT name FROM {table}"))

    def queued(self, db):
        return sorted(r[0] for r in db.sql(f"SELECT update_name FROM {self.own(db, 'background_updates')}"))

    # ------------------------------------------------------------------

    def test_each_physical_database_gets_common_and_its_own_directories(self):
        out = json.loads(self.run_tool("migrate", *self.mapping(), self.schema, "--json").stdout)
        self.assertEqual([d["database"] for d in out["databases"]], ["main", "state"])
        self.assertEqual([d["logical_databases"] for d in out["databases"]], [["main"], ["state"]])
        self.assertEqual(out["exit_code"], OK)
        # common's table in both; main's and state's only in their own database.
        self.assertEqual(tables_of(self.main), MAIN_TABLES | COMMON_TABLES)
        self.assertEqual(tables_of(self.state), STATE_TABLES | COMMON_TABLES)
        # Both reach the newest version of all directories (state has no delta of version 13).
        self.assertEqual((self.version(self.main), self.version(self.state)), (NEWEST, NEWEST))
        self.assertEqual(self.applied(self.state), ["11/01_state_edges.sql", "12/01_instance_map.sql"])
        self.assertIn("12/01_instance_map.sql", self.applied(self.main))
        self.assertNotIn("11/01_state_edges.sql", self.applied(self.main))
        self.assertEqual(self.recorded(self.main), ["main"])
        self.assertEqual(self.recorded(self.state), ["state"])
        # Each queue holds its own logical database's updates.
        self.assertEqual(self.queued(self.main), ["events_redacted_fill", "users_admin_fill"])
        self.assertEqual(self.queued(self.state), ["state_edges_touch"])
        # Text output names each database; a second run has nothing to do.
        again = self.run_tool("migrate", *self.mapping(), self.schema).stdout
        self.assertIn("[main] ", again)
        self.assertIn("[state] ", again)
        self.assertIn("0 delta(s) applied", again)

    def test_a_logical_database_in_the_wrong_physical_one_is_refused_and_nothing_applied(self):
        self.run_tool("migrate", *self.mapping(), self.schema)
        write_tree(self.schema, {"main/delta/14/01_main_later.sql": "CREATE TABLE main_later (x INT);\n",
                                 "state/delta/14/02_state_later.sql": "CREATE TABLE state_later (x INT);\n",
                                 "common/delta/14/03_common_later.sql": "CREATE TABLE common_later (x INT);\n"})
        before = [(self.applied(db), tables_of(db), self.version(db)) for db in (self.main, self.state)]
        # Swapped: main's directories would go to the state database and the other way round.
        r = self.run_tool("migrate", *self.mapping(main=self.state, state=self.main), self.schema, expect=INCOMPATIBLE)
        self.assertIn("database main: this database holds the logical database state", r.stderr)
        self.assertIn("nothing was changed", r.stderr)
        j = json.loads(self.run_tool("migrate", "--json", *self.mapping(main=self.state, state=self.main),
                                     self.schema, expect=INCOMPATIBLE).stdout)
        self.assertEqual(j["exit_code"], INCOMPATIBLE)
        # One database for everything: state's directory would be applied to main's database.
        r = self.run_tool("migrate", "--db", self.main.url, self.schema, expect=INCOMPATIBLE)
        self.assertIn("would use it for every logical database", r.stderr)
        # Both logical databases in the one that holds state only.
        r = self.run_tool("migrate", "--db", f"main={self.state.url}", "--db", f"state={self.state.url}",
                          self.schema, expect=INCOMPATIBLE)
        self.assertIn("holds the logical database state", r.stderr)
        after = [(self.applied(db), tables_of(db), self.version(db)) for db in (self.main, self.state)]
        self.assertEqual(after, before)
        # The right mapping goes on to version 14 in both, common's delta in each.
        self.run_tool("migrate", *self.mapping(), self.schema)
        self.assertEqual(tables_of(self.main), MAIN_TABLES | COMMON_TABLES | {"main_later", "common_later"})
        self.assertEqual(tables_of(self.state), STATE_TABLES | COMMON_TABLES | {"state_later", "common_later"})

    def test_a_database_migrated_whole_cannot_have_a_logical_database_moved_out(self):
        self.run_tool("migrate", "--db", self.main.url, self.schema)
        self.assertEqual(self.recorded(self.main), ["*"])
        self.assertEqual(tables_of(self.main), MAIN_TABLES | STATE_TABLES | COMMON_TABLES)
        r = self.run_tool("migrate", *self.mapping(), self.schema, expect=INCOMPATIBLE)
        self.assertIn("holds every logical database", r.stderr)
        self.assertEqual(tables_of(self.state), set())  # nothing applied to the other one
        # Naming both logical databases for it is the same as one --db.
        self.run_tool("migrate", "--db", f"main={self.main.url}", "--db", f"state={self.main.url}", self.schema)

    def test_mapping_mistakes_are_usage_errors(self):
        cases = [
            (["--db", f"main={self.main.url}"], "'state' (schema directory state) has no physical database"),
            (self.mapping() + ["--db", f"stat={self.state.url}"], "no schema directory for the logical database 'stat'"),
            (["--db", f"main={self.main.url}", "--db", f"main={self.state.url}"], "'main' is given twice"),
            (["--db", self.main.url, "--db", self.state.url], "several --db need the logical database each holds"),
            (["--db", self.main.url, "--db", f"state={self.state.url}"], "give either one --db URL"),
        ]
        for args, message in cases:
            r = self.run_tool("migrate", *args, self.schema, expect=USAGE)
            self.assertIn(message, r.stderr)
        r = self.run_tool("run", *self.mapping(), expect=USAGE)
        self.assertIn("one database at a time", r.stderr)
        self.assertEqual(tables_of(self.main) | tables_of(self.state), set())

    def test_status_check_and_wait_across_the_mapping(self):
        self.run_tool("migrate", *self.mapping(), self.schema)
        register_handlers(self.main, ["main"])
        register_handlers(self.state, ["state"])
        st = json.loads(self.run_tool("status", "--json", *self.mapping()).stdout)
        self.assertEqual([(d["database"], len(d["updates"])) for d in st["databases"]], [("main", 2), ("state", 1)])
        self.assertEqual(st["total"], {"updates": 3, "states": {"pending": 3}})
        text = self.run_tool("status", *self.mapping()).stdout
        self.assertIn("== main (", text)
        self.assertIn("== state (", text)
        self.assertIn("total: 3 update(s) in 2 database(s): 3 pending", text)

        verdict = json.loads(self.run_tool("check", "--json", *self.mapping(), "--code-version", str(NEWEST),
                                           expect=REMAINING).stdout)
        self.assertEqual([d["database"] for d in verdict["databases"]], ["main", "state"])
        self.assertEqual(verdict["databases"][1]["remaining"], ["state_edges_touch"])
        self.run_tool("run", "--db", self.state.url)
        r = self.run_tool("check", *self.mapping(), expect=REMAINING)
        self.assertIn("state: ready", r.stdout)
        self.assertIn("main: not finished", r.stdout)
        r = self.run_tool("wait", *self.mapping(), "--timeout", "0.2", "--interval", "0.05", expect=REMAINING)
        self.assertIn("gave up", r.stdout)
        self.run_tool("run", "--db", self.main.url)
        self.assertEqual(json.loads(self.run_tool("check", "--json", *self.mapping()).stdout)["ready"], True)
        self.run_tool("wait", *self.mapping(), "--timeout", "5")
        # The mapping must match what each database holds.
        r = self.run_tool("check", *self.mapping(main=self.state, state=self.main), expect=INCOMPATIBLE)
        self.assertIn("holds the logical database", r.stdout)
        self.run_tool("wait", *self.mapping(main=self.state, state=self.main), "--timeout", "5", expect=INCOMPATIBLE)
        st = json.loads(self.run_tool("status", "--json", *self.mapping()).stdout)
        self.assertEqual(st["total"], {"updates": 3, "states": {"complete": 3}})


class SqliteSplit(Base, unittest.TestCase):
    KIND = "sqlite"


@unittest.skipUnless(PG_ADMIN, "BGUPDATE_TEST_PG is not set (test/tools/run.sh starts a server)")
class PostgresSplit(Base, unittest.TestCase):
    KIND = "postgres"

    def test_only_the_database_owner_records_logical_databases_and_port_progress(self):
        self.run_tool("migrate", *self.mapping(), self.schema)
        self.main.sql("DROP ROLE IF EXISTS split_intruder")
        self.main.sql("CREATE ROLE split_intruder")
        try:
            self.main.sql("SET ROLE split_intruder")
            with self.assertRaises(Exception) as cm:
                self.main.sql("INSERT INTO bgupdate.logical_databases (name, recorded_at) VALUES ('state', 'now')")
            self.assertIn("row-level security", str(cm.exception))
            self.main.connect().rollback()
            self.main.sql("SET ROLE split_intruder")
            self.main.sql("DELETE FROM bgupdate.logical_databases")  # sees the rows, removes none
            with self.assertRaises(Exception) as cm:
                self.main.sql("INSERT INTO bgupdate.port_progress (table_name, source, key_columns, updated_at)"
                              " VALUES ('users', '/x.db', '[]', 'now')")
            self.assertIn("row-level security", str(cm.exception))
            self.main.connect().rollback()
            self.main.sql("RESET ROLE")
            self.assertEqual(self.recorded(self.main), ["main"])
        finally:
            self.main.sql("RESET ROLE")
            self.main.sql("DROP ROLE split_intruder")


if __name__ == "__main__":
    result = unittest.main(exit=False, verbosity=2).result
    failed = len(result.failures) + len(result.errors)
    skipped = len(result.skipped)
    print(f"{result.testsRun - failed - skipped} passed, {failed + skipped} failed")
    sys.exit(1 if failed or skipped else 0)
