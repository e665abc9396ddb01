#!/usr/bin/python3
"""`bgupdate port`: an application's SQLite database copied into a PostgreSQL
database migrated to the same schema. Every table arrives with each value
converted by the target column's type (0/1 into booleans, blobs into bytea,
JSON, numeric, arrays, text with tabs and backslashes), identity columns and
sequences continue after the copied rows (and after SQLite's AUTOINCREMENT
high-water mark), pending updates are finished first so that queue,
registrations and schema state end the same on both sides. Killed with
SIGKILL at any moment (between batches and mid-batch, in the middle of a
table) and run again, no row is lost or repeated. Refusals: another schema
version, a target with data, updates that cannot be finished, a value that
cannot be converted (named, and resumable once fixed).

Run by test/tools/run.sh; ends with "N passed, N failed"."""
import json
import os
import random
import shlex
import signal
import subprocess
import sys
import tempfile
import time
import unittest

from synapse_shaped import NEWEST, PG_ADMIN, register_handlers, sub_engine, write_schema, write_tree
from test_cli import TOOL

OK, ERROR, USAGE, REMAINING, BLOCKED, INCOMPATIBLE = 0, 1, 2, 3, 4, 5
EVENTS = 12000
EDGES = 4000


def series(n):
    return f"WITH RECURSIVE s(value) AS (SELECT 1 UNION ALL SELECT value + 1 FROM s WHERE value < {n}) "


def fill(db, events=EVENTS, edges=EDGES):
    """Rows of every kind the conversion must handle, in the SQLite source."""
    c = db.connect()
    c.execute(series(300) + "INSERT INTO users (name, admin, deactivated, creation_ts) SELECT '@u' || value || ':x',"
              " value % 2, CASE value % 3 WHEN 0 THEN NULL ELSE (value + 1) % 2 END, 1700000000000 + value FROM s")
    c.execute(series(events) + "INSERT INTO events (stream_ordering, event_id, room_id, sender, outlier, json, depth)"
              " SELECT value, '$e' || value, '!r' || (value % 7) || ':x', '@u1:x', value % 2,"
              " '{\"body\": \"tab\t, backslash \\\\ and ' || char(10) || ' newline ' || value || ' é\"}', value FROM s")
    # No key at all (copied in rowid order), with duplicate rows.
    c.execute(series(edges) + "INSERT INTO event_edges SELECT '$e' || (value % 1000), '$e' || (value % 999), value % 2 FROM s")
    c.execute(series(200) + "INSERT INTO reports (event_id, reason, resolved) SELECT '$e' || value, 'spam', value % 2 FROM s")
    c.execute("DELETE FROM reports WHERE id > 180")  # AUTOINCREMENT stays at 200
    c.execute("INSERT INTO instance_map (instance_name) VALUES ('master'), ('worker1')")
    c.execute("INSERT INTO media VALUES ('m1', ?, '{\"w\": 640, \"tags\": [\"a\"]}', 12.5, 0.1, 1, '{a,b}')",
              (bytes(range(256)),))
    c.execute("INSERT INTO media VALUES ('m2', NULL, NULL, 7, 2.0, 0, NULL)")
    c.execute("INSERT INTO media VALUES ('m3', x'', '[]', 0.30000000000000004, -1e-300, NULL, '{}')")
    c.execute("UPDATE stream_positions SET stream_id = 523")
    c.execute(series(500) + "INSERT INTO state_groups SELECT value, '!r:x', '$e' || value FROM s")
    c.execute(series(500) + "INSERT INTO state_group_edges SELECT value + 1, value FROM s")


def pg_types(dst, table):
    return [r[0] for r in dst.sql("SELECT data_type FROM information_schema.columns WHERE table_schema = 'public'"
                                  " AND table_name = %s ORDER BY ordinal_position", (table,))]


def normalized(value, data_type, from_sqlite):
    if value is None:
        return None
    if data_type == "boolean":
        return bool(value)
    if data_type == "bytea":
        return bytes(value)
    if data_type in ("json", "jsonb"):
        return json.dumps(json.loads(value) if from_sqlite else value, sort_keys=True)
    if data_type in ("numeric", "double precision"):
        return float(value)
    if data_type == "ARRAY":
        return value if from_sqlite else "{" + ",".join(value) + "}"
    return value


def rows_of(db, table, columns, types):
    cols = ", ".join(f'"{c}"' for c in columns)
    rows = [tuple(normalized(v, t, db.kind == "sqlite") for v, t in zip(r, types))
            for r in db.sql(f'SELECT {cols} FROM "{table}"')]
    return sorted(rows, key=repr)


class Port(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory(prefix="bgupdate_port_")
        self.addCleanup(self.tmp.cleanup)
        self.schema = write_schema(os.path.join(self.tmp.name, "schema"))
        self.src = sub_engine("sqlite", self.tmp.name, "source")
        self.dst = sub_engine("postgres", self.tmp.name, f"port_{self._testMethodName}")
        self.addCleanup(self.src.close)
        self.addCleanup(self.dst.close)
        self.tool("migrate", "--db", self.src.url, self.schema)
        self.tool("migrate", "--db", self.dst.url, self.schema)

    def cli(self, *args, timeout=300):
        return subprocess.run([TOOL, *args], capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)

    def tool(self, *args, expect=OK):
        r = self.cli(*args)
        self.assertEqual(r.returncode, expect, f"{args}: exit {r.returncode}\nstdout:\n{r.stdout}\nstderr:\n{r.stderr}")
        return r

    def port(self, *args, expect=OK):
        return self.tool("port", "--from", self.src.url, "--to", self.dst.url, *args, expect=expect)

    def tables(self):
        return [r[0] for r in self.dst.sql("SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY 1")]

    def assert_same_rows(self):
        for table in self.tables():
            types = pg_types(self.dst, table)
            columns = [r[0] for r in self.dst.sql("SELECT column_name FROM information_schema.columns WHERE"
                                                  " table_schema = 'public' AND table_name = %s ORDER BY"
                                                  " ordinal_position", (table,))]
            self.assertEqual(rows_of(self.dst, table, columns, types), rows_of(self.src, table, columns, types), table)

    def progress(self):
        return {r[0]: (r[1], r[2]) for r in self.dst.sql("SELECT table_name, rows_copied, done FROM bgupdate.port_progress")}

    def assert_no_partial_batch(self):
        """What a killed port left: each table holds exactly the rows its progress row counts."""
        progress = self.progress()
        for table in self.tables():
            count = self.dst.sql(f'SELECT count(*) FROM "{table}"')[0][0]
            if table in progress:
                self.assertEqual(count, progress[table][0], f"{table}: {count} rows, progress says {progress[table]}")
            else:
                self.assertEqual(count, 1 if table == "stream_positions" else 0, table)  # only the schema's own rows

    # ------------------------------------------------------------------

    def test_every_table_arrives_converted_by_the_target_type(self):
        register_handlers(self.src)
        fill(self.src, events=3000, edges=1000)
        out = json.loads(self.port("--json", "--batch-size", "700",
                                   "--sequence", "events_stream_seq=events.stream_ordering").stdout)
        self.assertEqual(out["exit_code"], OK)
        self.assertIn("row counts match", out["result"])
        counts = {t["table"]: (t["source_rows"], t["target_rows"]) for t in out["tables"]}
        self.assertEqual(counts["events"], (3000, 3000))
        self.assertEqual(counts["event_edges"], (1000, 1000))
        self.assertEqual(counts["stream_positions"], (1, 1))
        self.assert_same_rows()
        # The schema's own row was replaced by the source's.
        self.assertEqual(self.dst.sql("SELECT lock, stream_id FROM stream_positions"), [("X", 523)])
        self.assertEqual(self.dst.sql("SELECT content FROM media WHERE media_id = 'm1'")[0][0].tobytes(), bytes(range(256)))
        self.assertEqual(self.dst.sql("SELECT count(*) FILTER (WHERE admin), count(*) FILTER (WHERE deactivated IS NULL)"
                                      " FROM users"), [(150, 100)])
        # Run again: nothing to copy, the counts are checked again.
        again = json.loads(self.port("--json").stdout)
        self.assertEqual((again["rows_copied"], again["resumed"], again["exit_code"]), (0, True, OK))
        # Identity columns and sequences continue after the copied rows.
        self.assertEqual(self.dst.sql("INSERT INTO reports (event_id) VALUES ('$new') RETURNING id"), [(201,)])
        self.assertEqual(self.dst.sql("INSERT INTO instance_map (instance_name) VALUES ('w2') RETURNING instance_id"),
                         [(3,)])
        self.assertEqual(self.dst.sql("SELECT nextval('events_stream_seq')"), [(3001,)])
        moved = {s["sequence"]: s["value"] for s in out["sequences"]}
        self.assertEqual(moved["public.reports_id_seq"], 200)
        self.assertEqual(moved["events_stream_seq"], 3000)
        # Pending updates were finished on the source, then (on empty tables) on the target.
        self.assertEqual(sorted(out["updates"]["finished_on_source"]),
                         ["events_redacted_fill", "state_edges_touch", "users_admin_fill"])
        self.assertEqual(sorted(out["updates"]["finished_on_target"]), sorted(out["updates"]["finished_on_source"]))
        self.assertEqual(self.dst.sql("SELECT count(*) FROM events WHERE redacted IS NOT FALSE"), [(0,)])
        # Queue, registrations and schema state end the same.
        self.assertEqual(self.src.sql("SELECT count(*) FROM background_updates"), [(0,)])
        self.assertEqual(self.dst.sql("SELECT count(*) FROM bgupdate.background_updates"), [(0,)])
        self.assertEqual(sorted(self.dst.sql("SELECT update_name, kind FROM bgupdate.update_registry")),
                         sorted(self.src.sql("SELECT update_name, kind FROM bgupdate_registry")))
        self.assertEqual(self.dst.sql("SELECT version FROM bgupdate.schema_version"),
                         self.src.sql("SELECT version FROM schema_version"))
        self.assertEqual(self.dst.sql("SELECT compat_version FROM bgupdate.schema_compat_version"),
                         self.src.sql("SELECT compat_version FROM schema_compat_version"))
        self.assertTrue(any("event_edges is copied in rowid order" in n for n in out["notes"]))
        # A row added to the target since: the counts no longer match.
        self.dst.sql("INSERT INTO users (name) VALUES ('@late:x')")
        r = self.port(expect=ERROR)
        self.assertIn("users (300 in the source, 301 in the target)", r.stderr)
        self.assertIn("row counts differ: instance_map (2 in the source, 3 in the target)", r.stderr)

    def test_killed_at_any_moment_resumes_without_losing_or_repeating_rows(self):
        register_handlers(self.src)
        fill(self.src)
        total = {"events": EVENTS, "event_edges": EDGES}
        cmd = [TOOL, "port", "--from", self.src.url, "--to", self.dst.url, "--progress", "none", "--batch-size", "200"]
        mid_table = 0
        # Between batches: killed as soon as a table is partly copied.
        p = subprocess.Popen(cmd + ["--pause-ms", "20"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.time() + 120
        while p.poll() is None and time.time() < deadline:
            partial = [t for t, (n, done) in self.progress().items() if not done and 0 < n < total.get(t, 0)]
            if partial:
                p.send_signal(signal.SIGKILL)
                mid_table += 1
                break
            time.sleep(0.01)
        p.wait()
        self.assertEqual(p.returncode, -signal.SIGKILL, "the port finished before it could be killed mid-table")
        self.assert_no_partial_batch()
        # At random moments: while it starts and finishes updates, between batches, in the middle of a
        # batch's transaction (killed a few milliseconds after it is seen to have copied more).
        rnd = random.Random(17)
        copied = lambda: sum(n for n, _ in self.progress().values())
        for i in range(8):
            before = copied()
            p = subprocess.Popen(cmd + ["--pause-ms", str(i % 3)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            if i % 4 == 3:
                time.sleep(rnd.uniform(0, 0.3))
            else:
                deadline = time.time() + 60
                while p.poll() is None and copied() == before and time.time() < deadline:
                    time.sleep(0.002)
                time.sleep(rnd.uniform(0, 0.02))
            if p.poll() is not None:
                break
            p.send_signal(signal.SIGKILL)
            p.wait()
            self.dst.close()  # a fresh session sees what the killed one committed
            self.assert_no_partial_batch()
            mid_table += any(not done and 0 < n < total.get(t, 0) for t, (n, done) in self.progress().items())
        self.assertGreaterEqual(mid_table, 1)
        out = json.loads(self.port("--json").stdout)
        self.assertTrue(out["resumed"])
        self.assertIn("row counts match", out["result"])
        self.assert_same_rows()  # every row once: event_edges has no key and duplicate rows
        self.assertEqual(self.dst.sql("INSERT INTO reports (event_id) VALUES ('$new') RETURNING id"), [(201,)])

    def test_refusals_change_nothing(self):
        fill(self.src, events=10, edges=10)
        # Updates that cannot be finished (no handler registered): refused before anything is copied.
        r = self.port(expect=BLOCKED)
        self.assertIn("pending background updates of the source cannot be finished first: events_redacted_fill (no "
                      "handler is registered", r.stderr)
        self.assertIn("nothing was copied", r.stderr)
        self.assertEqual(self.progress(), {})
        register_handlers(self.src)
        # A target with data of its own.
        self.dst.sql("INSERT INTO users (name, admin) VALUES ('@other:y', TRUE)")
        r = self.port(expect=INCOMPATIBLE)
        self.assertIn("the target is not empty: table users holds a row the source does not have (name=@other:y)",
                      r.stderr)
        self.dst.sql("DELETE FROM users")
        # Another schema version.
        write_tree(self.schema, {"main/delta/14/01_later.sql": "CREATE TABLE later (x INT);\n"})
        self.tool("migrate", "--db", self.dst.url, self.schema)
        r = self.port(expect=INCOMPATIBLE)
        self.assertIn(f"the target's schema version (14) is not the source's ({NEWEST})", r.stderr)
        self.assertEqual(self.progress(), {})
        self.assertEqual(self.tool("port", "--from", self.dst.url, "--to", self.dst.url, expect=USAGE).returncode, USAGE)

    def test_a_value_that_cannot_be_converted_is_named_and_the_port_resumes_once_fixed(self):
        register_handlers(self.src)
        fill(self.src, events=10, edges=10)
        self.src.sql("UPDATE users SET admin = 'maybe' WHERE name = '@u7:x'")
        r = self.port(expect=ERROR)
        self.assertIn('users.admin, row with key ["@u7:x"]: cannot store text \'maybe\' in a boolean column', r.stderr)
        progress = self.progress()
        self.assertNotIn("users", progress)
        self.assertTrue(progress["events"][1])  # tables copied before it stay copied
        self.assert_no_partial_batch()
        self.src.sql("UPDATE users SET admin = 1 WHERE name = '@u7:x'")
        self.port()
        self.assert_same_rows()

    def test_progress_bars_on_a_terminal_and_lines_elsewhere(self):
        register_handlers(self.src)
        fill(self.src, events=2000, edges=10)
        cmd = " ".join(shlex.quote(a) for a in [TOOL, "port", "--from", self.src.url, "--to", self.dst.url,
                                                "--batch-size", "100"])
        pty = subprocess.run(["script", "-qec", cmd, "/dev/null"], capture_output=True, text=True, timeout=300,
                             stdin=subprocess.DEVNULL)
        self.assertEqual(pty.returncode, OK, pty.stdout + pty.stderr)
        self.assertIn("\x1b[", pty.stdout)  # redrawn in place
        self.assertRegex(pty.stdout, r"events\s+\[#{24}\]\s+100\.0%")
        self.assertRegex(pty.stdout, r"all tables \(\d+/\d+\)\s+\[#*-+\]")
        self.assertIn("rows/s", pty.stdout)
        self.assertIn("ETA", pty.stdout)
        # Not a terminal: plain lines.
        self.dst.sql("TRUNCATE bgupdate.port_progress")
        self.dst.sql("TRUNCATE users, events, event_edges, reports, instance_map, media, state_groups, state_group_edges")
        plain = self.port("--batch-size", "100", "--interval", "0.01")
        self.assertNotIn("\x1b[", plain.stdout)
        self.assertIn("copied events: 2000 rows", plain.stdout)
        self.assertIn("row counts match", plain.stdout)


if __name__ == "__main__":
    if not PG_ADMIN:
        print("test_port: BGUPDATE_TEST_PG is not set (test/tools/run.sh starts a server)")
        print("0 passed, 1 failed")
        sys.exit(1)
    result = unittest.main(exit=False, verbosity=2).result
    failed = len(result.failures) + len(result.errors)
    skipped = len(result.skipped)
    print(f"{result.testsRun - failed - skipped} passed, {failed + skipped} failed")
    sys.exit(1 if failed or skipped else 0)
