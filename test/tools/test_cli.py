#!/usr/bin/python3
"""tools/bgupdate (the C++ tool) on SQLite and, when test/tools/run.sh started
a server (BGUPDATE_TEST_PG), on PostgreSQL: every command, --json parsed,
exit codes, Synapse-style migrations (snapshot selection, several schema
directories, .py deltas, the placeholder, an existing Synapse-shaped
background_updates table), and the progress display in a pseudo-terminal.

Run by test/tools/run.sh; ends with "N passed, N failed"."""
import json
import os
import shlex
import sqlite3
import subprocess
import sys
import tempfile
import time
import unittest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.realpath(__file__))))
TOOL = os.path.join(REPO, "tools", "bgupdate")
EXTENSION = os.path.join(REPO, "sqlite_extension", "bgupdate")
PG_ADMIN = os.environ.get("BGUPDATE_TEST_PG")  # conninfo of a throwaway server (postgres database)

OK, ERROR, USAGE, REMAINING, BLOCKED, INCOMPATIBLE, STOPPED_AT_PYTHON = 0, 1, 2, 3, 4, 5, 6


def write_tree(root, files):
    for rel, text in files.items():
        path = os.path.join(root, rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w", encoding="utf-8") as f:
            f.write(text)


class Engine:
    """How a test reaches its database: SQLite file or a fresh PostgreSQL database."""

    def __init__(self, kind, tmp, name):
        self.kind = kind
        self.conn = None
        if kind == "sqlite":
            self.path = os.path.join(tmp, "app.db")
            self.url = "sqlite://" + self.path
            sqlite3.connect(self.path).close()  # the application's database exists
        else:
            import psycopg2
            self.psycopg2 = psycopg2
            self.dbname = name.lower()[:60]
            admin = psycopg2.connect(PG_ADMIN)
            admin.autocommit = True
            with admin.cursor() as c:
                c.execute(f'DROP DATABASE IF EXISTS "{self.dbname}"')
                c.execute(f'CREATE DATABASE "{self.dbname}"')
            admin.close()
            self.conninfo = PG_ADMIN.replace("dbname=postgres", f"dbname={self.dbname}")
            self.url = self.conninfo
            self.sql("CREATE EXTENSION bgupdate")

    def connect(self):
        if self.conn is None:
            if self.kind == "sqlite":
                self.conn = sqlite3.connect(self.path, isolation_level=None, timeout=10)
                self.conn.enable_load_extension(True)
                self.conn.load_extension(EXTENSION)
            else:
                self.conn = self.psycopg2.connect(self.conninfo)
                self.conn.autocommit = True
        return self.conn

    def sql(self, text, args=()):
        """Rows of one statement (placeholders: %s on both)."""
        conn = self.connect()
        if self.kind == "sqlite":
            return conn.execute(text.replace("%s", "?"), args).fetchall()
        with conn.cursor() as c:
            c.execute(text, args or None)
            return c.fetchall() if c.description else []

    def fn(self, name):
        return ("bgupdate." if self.kind == "postgres" else "bgupdate_") + name

    def own(self, table):  # Synapse-named tables of the extension
        return ("bgupdate." if self.kind == "postgres" else "") + table

    def queue(self):
        return self.own("background_updates")

    def has_table(self, name):
        if self.kind == "sqlite":
            return bool(self.sql("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = %s", (name,)))
        return self.sql("SELECT to_regclass(%s) IS NOT NULL", (name,))[0][0]

    def close(self):
        if self.conn is not None:
            self.conn.close()
            self.conn = None

    def batched_table(self, rows, name="fill", table="t", set_clause="new = old * 2", ordering=0):
        self.sql(f"CREATE TABLE {table} (id INTEGER PRIMARY KEY, old INT, new INT)")
        if self.kind == "sqlite":
            self.sql(f"WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {rows}) "
                     f"INSERT INTO {table} (id, old) SELECT i, i FROM n")
            self.sql("SELECT bgupdate_register_batched_update(%s, %s, '[\"id\"]', %s, 'new IS NULL')",
                     (name, table, set_clause))
        else:
            self.sql(f"INSERT INTO {table} (id, old) SELECT i, i FROM generate_series(1, {rows}) i")
            self.sql(f"ANALYZE {table}")
            self.sql("SELECT bgupdate.register_batched_update(%s, %s, ARRAY['id'], %s, 'new IS NULL')",
                     (name, table, set_clause))
        self.sql(f"INSERT INTO {self.queue()} (ordering, update_name, progress_json) VALUES (%s, %s, '{{}}')",
                 (ordering, name))

    def set_config(self, key, value):
        if self.kind == "sqlite":
            self.sql("SELECT bgupdate_config(%s, %s)", (key, value))
        else:
            self.sql(f'ALTER DATABASE "{self.dbname}" SET bgupdate.{key} = %s', (value,))


class Base:
    """Tests shared by both engines (mixed into one TestCase per engine)."""
    KIND = None

    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory(prefix="bgupdate_cli_")
        self.addCleanup(self.tmp.cleanup)
        self.db = Engine(self.KIND, self.tmp.name, f"cli_{self._testMethodName}")
        self.addCleanup(self.db.close)
        self.schema = os.path.join(self.tmp.name, "schema")

    def cli(self, *args, timeout=120, env=None):
        return subprocess.run([TOOL, *args], capture_output=True, text=True, timeout=timeout,
                              stdin=subprocess.DEVNULL, env=env)

    def tool(self, command, *args, expect=OK, **kw):
        r = self.cli(command, "--db", self.db.url, *args, **kw)
        self.assertEqual(r.returncode, expect, f"{command} {args}: exit {r.returncode}\n"
                                               f"stdout:\n{r.stdout}\nstderr:\n{r.stderr}")
        return r

    def tool_json(self, command, *args, expect=OK, **kw):
        r = self.tool(command, "--json", *args, expect=expect, **kw)
        return json.loads(r.stdout)

    def status(self):
        return {row["update_name"]: row for row in self.tool_json("status")}

    # ------------------------------------------------------------ migrate

    SYNAPSE_LIKE = {
        # Two snapshots; the newest at or below the target is taken.
        "common/full_schemas/10/full.sql.sqlite": "CREATE TABLE old_snapshot (x INT);",
        "common/full_schemas/10/full.sql.postgres": "CREATE TABLE old_snapshot (x INT);",
        "common/full_schemas/20/full.sql.sqlite":
            "CREATE TABLE background_updates (update_name text NOT NULL, progress_json text NOT NULL,"
            " depends_on text, ordering INT NOT NULL DEFAULT 0,"
            " CONSTRAINT background_updates_uniqueness UNIQUE (update_name));\n"
            "CREATE TABLE log (n TEXT);\n",
        "common/full_schemas/20/full.sql.postgres":
            "CREATE TABLE background_updates (update_name text NOT NULL, progress_json text NOT NULL,"
            " depends_on text, ordering INT NOT NULL DEFAULT 0,"
            " CONSTRAINT background_updates_uniqueness UNIQUE (update_name));\n"
            "CREATE TABLE log (n TEXT);\n"
            "CREATE FUNCTION log_it() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NEW; END; $$;\n",
        "main/full_schemas/20/full.sql.sqlite":
            "CREATE TABLE events (id INTEGER PRIMARY KEY, body TEXT);\n"
            "INSERT INTO background_updates (update_name, progress_json) VALUES ('snapshot_update', '{}');\n",
        "main/full_schemas/20/full.sql.postgres":
            "CREATE TABLE events (id BIGINT PRIMARY KEY, body TEXT);\n"
            "INSERT INTO background_updates (update_name, progress_json) VALUES ('snapshot_update', '{}');\n",
        "main/full_schemas/20/README.md": "not a schema file",
        # Deltas of versions at or below the snapshot are not due.
        "main/delta/15/01_old.sql": "INSERT INTO log VALUES ('15: must not run');",
        # Version 21 across two directories, sorted by file name.
        "main/delta/21/01_a.sql": "INSERT INTO log VALUES ('21/01_a');",
        "common/delta/21/02_b.sql": "INSERT INTO log VALUES ('21/02_b');",
        "main/delta/21/03_c.sql.sqlite": "INSERT INTO log VALUES ('21/03_c sqlite');",
        "main/delta/21/03_c.sql.postgres": "INSERT INTO log VALUES ('21/03_c postgres');",
        "main/delta/21/04_module.py": "def run_upgrade(cur, engine, config): pass\n",
        "main/delta/21/__pycache__/x.pyc": "",
        "main/delta/21/05_queue.sql":
            "INSERT INTO background_updates (ordering, update_name, progress_json) VALUES (2105, 'delta_update', '{}');\n"
            "INSERT INTO log VALUES ('21/05_queue');",
        "main/delta/22/01_placeholder.sql":
            "CREATE TABLE seq_table (k $%AUTO_INCREMENT_PRIMARY_KEY%$, v TEXT);\n"
            "INSERT INTO seq_table (v) VALUES ('a'), ('b');\n"
            "INSERT INTO log VALUES ('22/01');",
        "main/delta/23/01_future.sql": "INSERT INTO log VALUES ('23: beyond the target');",
    }

    def log(self):
        return [r[0] for r in self.db.sql("SELECT n FROM log ORDER BY rowid" if self.db.kind == "sqlite"
                                          else "SELECT n FROM log ORDER BY ctid")]

    def test_migrate_synapse_layout(self):
        write_tree(self.schema, self.SYNAPSE_LIKE)
        plan = self.tool_json("migrate", self.schema, "--target", "22", "--compat-version", "21", "--dry-run")
        self.assertTrue(plan["dry_run"])
        self.assertEqual(plan["snapshot_version"], 20)
        self.assertFalse(self.db.has_table("log"))  # a dry run changes nothing

        out = self.tool_json("migrate", self.schema, "--target", "22", "--compat-version", "21")
        self.assertEqual((out["snapshot_version"], out["version"], out["compat_version"]), (20, 22, 21))
        self.assertEqual((out["snapshot_files"], out["applied"], out["skipped_python"], out["other_engine"]),
                         (2, 5, 1, 1))
        self.assertFalse(self.db.has_table("old_snapshot"))
        own = "sqlite" if self.db.kind == "sqlite" else "postgres"
        self.assertEqual(self.log(), ["21/01_a", "21/02_b", f"21/03_c {own}", "21/05_queue", "22/01"])
        # The placeholder became an auto-increment key on this engine.
        self.assertEqual(self.db.sql("SELECT k, v FROM seq_table ORDER BY k"), [(1, "a"), (2, "b")])
        applied = sorted(r[0] for r in self.db.sql(f"SELECT file FROM {self.db.own('applied_schema_deltas')}"))
        self.assertEqual(applied, ["21/01_a.sql", "21/02_b.sql", f"21/03_c.sql.{own}", "21/05_queue.sql",
                                   "22/01_placeholder.sql"])
        skipped = self.db.sql(f"SELECT version, file, reason FROM {self.db.fn('skipped_schema_deltas')}")
        self.assertEqual([(v, f) for v, f, _ in skipped], [(21, "21/04_module.py")])
        self.assertIn("Python", skipped[0][2])
        self.assertEqual(self.db.sql(f"SELECT version, upgraded FROM {self.db.own('schema_version')}")[0][0], 22)
        # One queue: the snapshot's own table and the deltas' unqualified inserts all reach it.
        names = sorted(r[0] for r in self.db.sql(f"SELECT update_name FROM {self.db.queue()}"))
        self.assertEqual(names, ["delta_update", "snapshot_update"])
        self.assertEqual(sorted(self.status()), ["delta_update", "snapshot_update"])

        # Again: nothing to do. Then on to the newest version.
        again = self.tool_json("migrate", self.schema, "--target", "22")
        self.assertEqual((again["applied"], again["skipped_python"], again["version"]), (0, 0, 22))
        self.tool("migrate", self.schema)
        self.assertEqual(self.log()[-1], "23: beyond the target")

    def test_migrate_refuses_old_code_and_changes_nothing(self):
        write_tree(self.schema, self.SYNAPSE_LIKE)
        self.tool("migrate", self.schema, "--target", "22", "--compat-version", "22")
        before = self.log()
        r = self.tool("migrate", self.schema, "--target", "21", expect=INCOMPATIBLE)
        self.assertIn("needs code of version 22 or newer, but this code is version 21", r.stderr)
        self.assertIn("nothing was changed", r.stderr)
        self.assertEqual(self.log(), before)
        self.assertEqual(self.db.sql(f"SELECT version FROM {self.db.own('schema_version')}")[0][0], 22)
        j = self.tool_json("migrate", self.schema, "--target", "21", expect=INCOMPATIBLE)
        self.assertEqual(j["exit_code"], INCOMPATIBLE)
        # The same gate for an application starting up.
        self.assertEqual(self.tool_json("check", "--code-version", "21", expect=INCOMPATIBLE)["schema"]["ok"], False)
        self.tool("check", "--code-version", "22", "--update", "no_such_update")

    def test_migrate_stop_on_python(self):
        write_tree(self.schema, self.SYNAPSE_LIKE)
        r = self.tool("migrate", self.schema, "--target", "22", "--stop-on-python", expect=STOPPED_AT_PYTHON)
        self.assertIn("21/04_module.py", r.stderr)
        own = "sqlite" if self.db.kind == "sqlite" else "postgres"
        self.assertEqual(self.log(), ["21/01_a", "21/02_b", f"21/03_c {own}"])  # stopped before the .py

    def test_migrate_failing_delta_keeps_earlier_work(self):
        write_tree(self.schema, {
            "1/01_ok.sql": "CREATE TABLE log (n TEXT); INSERT INTO log VALUES ('ok');",
            "1/02_bad.sql": "INSERT INTO log VALUES ('partial');\nINSERT INTO no_such_table VALUES (1);",
            "1/03_later.sql": "INSERT INTO log VALUES ('later');",
        })
        r = self.tool("migrate", self.schema, expect=ERROR)
        self.assertIn("1/02_bad.sql", r.stderr)
        self.assertIn("statement 2", r.stderr)
        self.assertEqual(self.log(), ["ok"])  # the failed file's first statement rolled back with it
        files = [x[0] for x in self.db.sql(f"SELECT file FROM {self.db.own('applied_schema_deltas')}")]
        self.assertEqual(files, ["1/01_ok.sql"])

    SYNAPSE_STATE_SQL = (
        # What Synapse itself made: its schema-state tables (common/schema_version.sql),
        # a table of its own, and its background_updates table with pending rows.
        "CREATE TABLE IF NOT EXISTS schema_version (Lock CHAR(1) NOT NULL DEFAULT 'X' UNIQUE,"
        " version INTEGER NOT NULL, upgraded BOOL NOT NULL, CHECK (Lock='X'));"
        "CREATE TABLE IF NOT EXISTS schema_compat_version (Lock CHAR(1) NOT NULL DEFAULT 'X' UNIQUE,"
        " compat_version INTEGER NOT NULL, CHECK (Lock='X'));"
        "CREATE TABLE IF NOT EXISTS applied_schema_deltas (version INTEGER NOT NULL, file TEXT NOT NULL,"
        " UNIQUE(version, file));"
        "INSERT INTO schema_version (version, upgraded) VALUES (21, TRUE);"
        "INSERT INTO schema_compat_version (compat_version) VALUES (20);"
        "INSERT INTO applied_schema_deltas VALUES (21, '21/01_done.sql');"
        "CREATE TABLE log (n TEXT);"
        "CREATE TABLE background_updates (update_name text NOT NULL, progress_json text NOT NULL,"
        " depends_on text, ordering INT NOT NULL DEFAULT 0,"
        " CONSTRAINT background_updates_uniqueness UNIQUE (update_name));"
        "INSERT INTO background_updates VALUES ('pending_one', '{}', NULL, 5);"
        "INSERT INTO background_updates VALUES ('pending_two', '{\"last\": 3}', 'pending_one', 6);")

    def test_existing_synapse_database_is_adopted(self):
        if self.db.kind == "sqlite":
            self.db.close()
            os.remove(self.db.path)
            raw = sqlite3.connect(self.db.path)
            raw.executescript(self.SYNAPSE_STATE_SQL)
            raw.close()
        else:
            for stmt in self.SYNAPSE_STATE_SQL.split(";"):
                if stmt.strip():
                    self.db.sql(stmt)
        write_tree(self.schema, {
            "full_schemas/20/full.sql": "CREATE TABLE log (n TEXT); -- not for a database that has a schema",
            "delta/21/01_done.sql": "INSERT INTO log VALUES ('21/01 again: must not run');",
            "delta/22/01_more.sql": "INSERT INTO background_updates (ordering, update_name, progress_json)"
                                    " VALUES (3001, 'from_delta', '{}'); INSERT INTO log VALUES ('22/01');",
        })
        out = self.tool_json("migrate", self.schema, "--compat-version", "21")
        self.assertEqual((out["from_version"], out["snapshot_files"], out["applied"], out["version"],
                          out["compat_version"]), (21, 0, 1, 22, 21))
        self.assertEqual(self.log(), ["22/01"])
        applied = sorted(r[0] for r in self.db.sql(f"SELECT file FROM {self.db.own('applied_schema_deltas')}"))
        self.assertEqual(applied, ["21/01_done.sql", "22/01_more.sql"])
        rows = sorted(self.db.sql(f"SELECT update_name, progress_json, depends_on, ordering FROM {self.db.queue()}"))
        self.assertEqual(rows, [("from_delta", "{}", None, 3001), ("pending_one", "{}", None, 5),
                                ("pending_two", '{"last": 3}', "pending_one", 6)])
        st = self.status()
        self.assertEqual(st["pending_two"]["depends_on"], "pending_one")
        self.assertEqual(st["pending_one"]["state"], "pending")  # no handler registered yet: it waits for one
        if self.db.kind == "postgres":
            for name in ("background_updates", "schema_version", "schema_compat_version", "applied_schema_deltas"):
                kind = self.db.sql(f"SELECT relkind::text FROM pg_class WHERE oid = 'public.{name}'::regclass")
                self.assertEqual(kind, [("v",)], name)  # replaced by a view over bgupdate's table
            # Synapse's own unqualified statements keep working.
            self.assertEqual(self.db.sql("SELECT version, upgraded FROM schema_version"), [(22, True)])
            self.db.sql("UPDATE background_updates SET ordering = 7 WHERE update_name = 'pending_two'")
            self.db.sql("DELETE FROM background_updates WHERE update_name = 'from_delta'")
            self.assertEqual(self.db.sql("SELECT update_name, ordering FROM bgupdate.background_updates ORDER BY 1"),
                             [("pending_one", 5), ("pending_two", 7)])
            self.assertEqual(self.db.sql("SELECT bgupdate.adopt_queue()")[0][0],
                             {"adopted_table": False, "created_view": False, "rows_moved": 0,
                              "schema_tables_adopted": 0})

    def test_adopt_queue_function_creates_the_view_when_missing(self):
        if self.db.kind == "sqlite":
            self.assertEqual(json.loads(self.db.sql("SELECT bgupdate_adopt_queue()")[0][0])["adopted_table"], False)
            return
        self.assertEqual(self.db.sql("SELECT to_regclass('public.background_updates')"), [(None,)])
        self.assertEqual(self.db.sql("SELECT bgupdate.adopt_queue()")[0][0]["created_view"], True)
        self.db.sql("INSERT INTO background_updates (update_name, progress_json) VALUES ('via_view', '{}')")
        self.assertEqual(self.db.sql("SELECT ordering FROM bgupdate.background_updates"), [(0,)])

    # ------------------------------------------------------------ running and control

    def test_run_to_completion_and_json(self):
        self.db.batched_table(3000)
        out = self.tool_json("run")
        self.assertEqual(out["exit_code"], OK)
        self.assertEqual(out["finished"], ["fill"])
        self.assertGreater(out["batches"], 0)
        self.assertEqual(self.db.sql("SELECT count(*) FROM t WHERE new = old * 2")[0][0], 3000)
        st = self.status()["fill"]
        self.assertEqual((st["state"], st["items_done"]), ("complete", 3000))
        self.tool("check")  # nothing left
        r = self.tool("run")
        self.assertIn("all background updates are complete", r.stdout)

    def test_run_stops_with_work_left(self):
        self.db.batched_table(500)
        r = self.tool("run", "--max-seconds", "0", expect=REMAINING)
        self.assertIn("1 update(s) not finished", r.stdout)
        self.assertEqual(self.tool_json("check", expect=REMAINING)["remaining"], ["fill"])
        r = self.tool("wait", "--timeout", "0.3", "--interval", "0.1", expect=REMAINING)
        self.assertIn("gave up", r.stdout)

    def test_failed_update_blocks(self):
        self.db.set_config("max_failures", "1")
        self.db.sql("CREATE TABLE c (id INTEGER PRIMARY KEY, old INT, new INT CHECK (new < 5))")
        self.db.sql("INSERT INTO c (id, old) VALUES (1, 1), (2, 10)")
        if self.db.kind == "sqlite":
            self.db.sql("SELECT bgupdate_register_batched_update('breaks', 'c', '[\"id\"]', 'new = old', 'new IS NULL')")
        else:
            self.db.sql("SELECT bgupdate.register_batched_update('breaks', 'c', ARRAY['id'], 'new = old', 'new IS NULL')")
        self.db.sql(f"INSERT INTO {self.db.queue()} (update_name, progress_json) VALUES ('breaks', '{{}}')")
        r = self.tool("run", expect=BLOCKED)
        self.assertIn("breaks failed", r.stdout)
        verdict = self.tool_json("check", expect=BLOCKED)
        self.assertEqual(verdict["failed"], ["breaks"])
        self.tool("wait", "--timeout", "5", expect=BLOCKED)  # waiting cannot help
        self.db.sql("UPDATE c SET old = 1")
        self.tool("retry", "breaks")
        self.assertEqual(self.status()["breaks"]["state"], "pending")
        self.tool("run")

    def test_pause_resume_finish_enable_disable(self):
        self.db.batched_table(200)
        self.assertEqual(self.tool_json("pause", "fill"), {"action": "pause", "updates": ["fill"]})
        self.assertEqual(self.status()["fill"]["state"], "paused")
        r = self.tool("run", expect=BLOCKED)
        self.assertIn("fill is paused", r.stdout)
        self.tool("resume", "fill")
        self.assertEqual(self.status()["fill"]["state"], "pending")
        self.assertEqual(self.tool_json("disable"), {"enabled": False})
        r = self.tool("run", expect=BLOCKED)
        self.assertIn("disabled", r.stdout)
        self.assertFalse(self.tool_json("check", expect=REMAINING)["enabled"])
        self.tool("enable")
        self.tool("finish", "fill")
        self.assertEqual(self.status()["fill"]["state"], "complete")
        r = self.tool("pause", "no_such_update", expect=ERROR)
        self.assertIn("no_such_update", r.stderr)

    def test_wait_returns_when_a_runner_finishes(self):
        self.db.batched_table(2000)
        waiter = subprocess.Popen([TOOL, "wait", "--db", self.db.url, "--update", "fill", "--interval", "0.1",
                                   "--json"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        time.sleep(0.3)
        self.assertIsNone(waiter.poll())
        self.tool("run")
        out, err = waiter.communicate(timeout=30)
        self.assertEqual(waiter.returncode, OK, err)
        self.assertTrue(json.loads(out)["ready"])

    def test_estimate(self):
        self.db.batched_table(4000)
        est = self.tool_json("estimate")
        self.assertEqual(len(est), 1)
        e = est[0]
        self.assertEqual((e["update_name"], e["items_left"], e["items_done"]), ("fill", 4000, 0))
        self.assertGreater(e["trial_items"], 0)
        self.assertGreater(e["batch_size"], 0)
        self.assertAlmostEqual(e["batch_ms"], e["batch_size"] * e["ms_per_item"], places=6)
        self.assertGreaterEqual(e["batches"], 1)
        self.assertAlmostEqual(e["total_seconds"], e["work_seconds"] + e["sleep_seconds"], places=6)
        self.assertEqual(e["sleep_ms"], 1000)
        # The trial batch was rolled back: no row changed, nothing recorded.
        self.assertEqual(self.db.sql("SELECT count(*) FROM t WHERE new IS NOT NULL")[0][0], 0)
        self.assertEqual(self.status()["fill"]["batches"], 0)
        raw = self.db.sql(f"SELECT {self.db.fn('estimate')}('fill')")[0][0]
        raw = raw if isinstance(raw, dict) else json.loads(raw)
        self.assertEqual(raw["items_left"], 4000)
        r = self.tool("estimate", "no_such_update", expect=ERROR)
        self.assertIn("no background update named 'no_such_update' is queued", r.stderr)
        self.assertIn("items_left", self.tool("estimate", "fill").stdout)

    def test_status_json_and_text(self):
        self.assertEqual(self.tool_json("status"), [])
        self.assertIn("(no background updates)", self.tool("status").stdout)
        self.db.batched_table(100)
        rows = self.tool_json("status")
        self.assertEqual(rows[0]["update_name"], "fill")
        self.assertEqual(rows[0]["state"], "pending")
        self.assertIsInstance(rows[0]["batches"], int)
        self.assertIn("fill", self.tool("status").stdout)
        # Text columns stay strings in JSON, whatever they look like (a health
        # hook's reason is any text): the status declaration says which are text.
        self.db.sql("SELECT " + ("bgupdate_step()" if self.db.kind == "sqlite" else "bgupdate.step()"))
        state = self.db.own('update_state' if self.db.kind == 'postgres' else 'bgupdate_state')
        self.db.sql(f"UPDATE {state} SET hold_reason = %s, hold_until_ms = 4102444800000, last_error = %s",
                    ('{"lag": 1}', "42"))
        row = self.tool_json("status")[0]
        self.assertEqual((row["hold_reason"], row["last_error"]), ('{"lag": 1}', "42"))

    def test_progress_bars_in_a_terminal_and_lines_elsewhere(self):
        self.db.batched_table(20000)
        self.db.set_config("update_duration_ms", "10")
        cmd = " ".join(shlex.quote(a) for a in [TOOL, "run", "--db", self.db.url])
        pty = subprocess.run(["script", "-qec", cmd, "/dev/null"], capture_output=True, text=True, timeout=120,
                             stdin=subprocess.DEVNULL)
        self.assertEqual(pty.returncode, OK, pty.stdout + pty.stderr)
        self.assertIn("\x1b[", pty.stdout)  # redrawn in place
        self.assertRegex(pty.stdout, r"fill\s+\[#{24}\]\s+100\.0%")
        self.assertRegex(pty.stdout, r"\[#*-+\]")  # a bar drawn before the end
        self.assertIn("rows/s", pty.stdout)
        self.assertIn("ETA", pty.stdout)
        # Not a terminal: plain lines, no escape codes.
        self.db.sql("UPDATE t SET new = NULL")
        self.db.sql(f"INSERT INTO {self.db.queue()} (update_name, progress_json) VALUES ('fill', '{{}}')")
        plain = self.tool("run", "--interval", "0.01")
        self.assertNotIn("\x1b[", plain.stdout)
        self.assertIn("finished fill", plain.stdout)


    # ------------------------------------------------------------ output for people

    EVIL = "evil\x1b[2J\x1b[1;1H\n\u2713 all background updates are complete\x9b31m\u202e\\"

    def assertEscaped(self, text, what):
        for raw in ("\x1b", "\x9b", "\u202e"):
            self.assertNotIn(raw, text, f"{what} printed a raw control character: {text!r}")
        self.assertNotIn("\n\u2713", text, f"{what} printed a raw newline from the database: {text!r}")
        self.assertIn("evil\\x1b[2J\\x1b[1;1H\\n\u2713 all background updates are complete\\u009b31m\\u202e\\\\",
                      text, f"{what} did not show the escaped name: {text!r}")

    def test_control_characters_from_the_database_are_escaped(self):
        # Any role may queue an update with such a name; the operator's terminal must not obey it.
        self.db.set_config("max_failures", "1")
        self.db.sql("CREATE TABLE c (id INTEGER PRIMARY KEY, old INT, new INT CHECK (new < 5))")
        self.db.sql("INSERT INTO c (id, old) VALUES (1, 1), (2, 10)")
        if self.db.kind == "sqlite":
            self.db.sql("SELECT bgupdate_register_batched_update(%s, 'c', '[\"id\"]', 'new = old', 'new IS NULL')",
                        (self.EVIL,))
        else:
            self.db.sql("SELECT bgupdate.register_batched_update(%s, 'c', ARRAY['id'], 'new = old', 'new IS NULL')",
                        (self.EVIL,))
        self.db.sql(f"INSERT INTO {self.db.queue()} (update_name, progress_json) VALUES (%s, '{{}}')", (self.EVIL,))
        r = self.tool("run", expect=BLOCKED)
        self.assertEscaped(r.stdout, "run")
        self.db.sql(f"UPDATE {self.db.own('update_state' if self.db.kind == 'postgres' else 'bgupdate_state')}"
                    " SET last_error = %s", ("boom\x1b]0;owned\x07",))
        r = self.tool("status")
        self.assertEscaped(r.stdout, "status")
        self.assertIn("boom\\x1b]0;owned\\x07", r.stdout)
        self.assertEscaped(self.tool("check", expect=BLOCKED).stdout, "check")
        self.assertEscaped(self.tool("retry", self.EVIL).stdout, "retry")
        r = self.tool("pause", self.EVIL + "x", expect=ERROR)
        self.assertNotIn("\x1b", r.stderr)
        self.assertIn("evil\\x1b[2J", r.stderr)
        # --json keeps the data as it is (JSON escapes it).
        self.assertIn(self.EVIL, self.status())

    # ------------------------------------------------------------ verbs, exit codes, usage

    def test_actions_say_what_they_did_and_refuse_to_pretend(self):
        self.db.batched_table(50)
        r = self.tool("pause", "fill")
        self.assertEqual(r.stdout, "paused: fill\n")
        self.assertEqual(self.tool("pause", "fill").stdout, "fill: nothing to pause: it is already paused\n")
        self.assertEqual(self.tool("resume", "fill").stdout, "resumed: fill\n")
        self.assertEqual(self.tool("retry", "fill").stdout, "fill: nothing to retry: it has not failed (it is pending)\n")
        self.assertEqual(self.tool("finish", "fill").stdout, "finished: fill\n")
        for action in ("retry", "pause", "resume"):
            r = self.tool(action, "fill")
            self.assertEqual(r.stdout, f"fill: nothing to {action}: it is complete\n")
            self.assertNotIn("retryd", r.stdout)
        self.assertEqual(self.tool_json("retry", "fill"),
                         {"action": "retry", "updates": [], "unchanged": [{"update_name": "fill", "reason": "it is complete"}]})
        self.assertEqual(self.status()["fill"]["state"], "complete")

    def test_usage_errors_speak_to_people(self):
        r = self.cli("stauts", "--db", self.db.url)
        self.assertEqual(r.returncode, USAGE)
        self.assertIn("unknown command 'stauts' (did you mean 'status'?)", r.stderr)
        self.assertNotIn("A subcommand is required", r.stderr)
        for args, message in [
                (["run", "--interval", "0"], "--interval: must be a number of seconds greater than 0"),
                (["wait", "--interval", "-1"], "--interval: must be a number of seconds greater than 0"),
                (["run", "--max-seconds", "-1"], "--max-seconds: must be a number of seconds, 0 or more"),
                (["wait", "--timeout", "-0.5"], "--timeout: must be a number of seconds, 0 or more"),
                (["migrate", self.tmp.name, "--target", "-3"], "--target: must be a schema version, a whole number from 1 up"),
                (["migrate", self.tmp.name, "--compat-version", "0"], "--compat-version: must be a schema version"),
                (["check", "--code-version", "-1"], "--code-version: must be a schema version"),
                (["wait", "--code-version", "1.5"], "--code-version: must be a schema version")]:
            r = self.cli(args[0], "--db", self.db.url, *args[1:])
            self.assertEqual(r.returncode, USAGE, f"{args}: {r.stdout}{r.stderr}")
            self.assertIn(message, r.stderr, args)
            self.assertNotRegex(r.stderr, r"\d{30}|0\.000000", f"{args}: a range nobody can read")


class SqliteOnly(Base):
    def test_bad_input_and_usage(self):
        r = self.cli("status", "--db", os.path.join(self.tmp.name, "missing.db"))
        self.assertEqual(r.returncode, ERROR)
        self.assertIn("no such SQLite database", r.stderr)
        r = self.cli("status", "--db", "mysql://x")
        self.assertEqual(r.returncode, ERROR)
        self.assertIn("unknown kind of database URL", r.stderr)
        self.assertEqual(self.cli("frobnicate").returncode, USAGE)
        self.assertEqual(self.cli("run", "--db", self.db.url, "--max-seconds", "-1").returncode, USAGE)
        r = self.cli("status", "--db", self.db.url, "--extension", "/nonexistent/ext")
        self.assertEqual(r.returncode, ERROR)
        self.assertIn("cannot load the bgupdate SQLite extension", r.stderr)
        r = self.cli("migrate", "--db", self.db.url, os.path.join(self.tmp.name, "nope"))
        self.assertEqual(r.returncode, ERROR)
        self.assertIn("no such schema directory", r.stderr)
        env = dict(os.environ, BGUPDATE_DB=self.db.url)
        self.assertEqual(self.cli("status", "--json", env=env).returncode, OK)
        self.assertTrue(self.cli("--help").stdout.startswith("bgupdate"))

    def test_sqlite_rebuild_refuses_while_an_update_targets_the_table(self):
        self.db.batched_table(50)
        r = self.db.connect()
        with self.assertRaises(sqlite3.Error) as cm:
            r.execute("SELECT bgupdate_add_constraint_and_enqueue(1, 'nn', 't', 'new_not_null', "
                      "'{\"not_null\": \"new\"}', 't2', 'CREATE TABLE t2 (id INTEGER PRIMARY KEY, old INT, new INT NOT NULL)')")
        self.assertIn("background update 'fill' is still queued on table 't'", str(cm.exception))
        self.assertEqual(r.execute("SELECT count(*) FROM t").fetchone()[0], 50)
        # Without the pending update the rebuild runs and says how many rows failed the constraint.
        r.execute("UPDATE t SET new = old WHERE id <= 40")
        r.execute("SELECT bgupdate_end_update('fill')")
        removed = r.execute("SELECT bgupdate_add_constraint_and_enqueue(1, 'nn', 't', 'new_not_null', "
                            "'{\"not_null\": \"new\"}', 't2', "
                            "'CREATE TABLE t2 (id INTEGER PRIMARY KEY, old INT, new INT NOT NULL)')").fetchone()[0]
        self.assertEqual(removed, 10)
        detail = r.execute("SELECT detail FROM bgupdate_history WHERE event = 'rebuilt'").fetchone()[0]
        self.assertIn("10 row(s) failed it and were removed", detail)


class SqliteCli(SqliteOnly, unittest.TestCase):
    KIND = "sqlite"


@unittest.skipUnless(PG_ADMIN, "BGUPDATE_TEST_PG is not set (test/tools/run.sh starts a server)")
class PostgresCli(Base, unittest.TestCase):
    KIND = "postgres"


if __name__ == "__main__":
    result = unittest.main(exit=False, verbosity=2).result
    failed = len(result.failures) + len(result.errors)
    skipped = len(result.skipped)
    print(f"{result.testsRun - failed - skipped} passed, {failed + skipped} failed")
    sys.exit(1 if failed or skipped else 0)
