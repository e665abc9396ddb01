#!/usr/bin/python3
"""The READMEs are true line by line: every fenced block of README.md,
pg_extension/README.md and examples/*/README.md is run on the engine it is
written for, as written (paths made private to the test where a block names
a shared one), and a `-- =>` line is the expected output of the statement
before it (as `sqlite3` and `psql -At` print it; `...` matches what varies).
A block that cannot run here is listed in CANNOT_RUN with the reason. A
block that no runner claims is a failure: a new block needs a test.

Run by test/docs/run.sh (which builds what it needs and passes the paths);
ends with "N passed, N failed"."""
import glob
import json
import os
import re
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import textwrap
import time
import unittest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.realpath(__file__))))
EXTENSION = os.path.join(REPO, "sqlite_extension", "bgupdate")
TOOL_DIR = os.path.join(REPO, "tools")
NODE_MODULES = os.path.join(REPO, "test", "node", "node_modules")
PGBIN = os.environ.get("PGBIN", "/usr/lib/postgresql/15/bin")
PG_PORT = int(os.environ.get("BGUPDATE_DOCS_TEST_PORT", "54427"))
DOCUMENTS = ["README.md", "pg_extension/README.md"] + sorted(
    os.path.relpath(p, REPO) for p in glob.glob(os.path.join(REPO, "examples", "*", "README.md")))


# ---------------------------------------------------------------- blocks

class Block:
    def __init__(self, doc, line, lang, text):
        self.doc, self.line, self.lang, self.text = doc, line, lang, text

    @property
    def where(self):
        return f"{self.doc}:{self.line}"

    def first_line(self):
        return next((l.strip() for l in self.text.splitlines() if l.strip()), "")


def read_blocks():
    out = []
    for doc in DOCUMENTS:
        lines = open(os.path.join(REPO, doc), encoding="utf-8").read().split("\n")
        i = 0
        while i < len(lines):
            m = re.match(r"^\s*```(\w*)\s*$", lines[i])
            if m:
                start, body = i + 1, []
                i += 1
                while not lines[i].strip().startswith("```"):
                    body.append(lines[i])
                    i += 1
                out.append(Block(doc, start, m.group(1), "\n".join(body) + "\n"))
            i += 1
    return out


# ---------------------------------------------------------------- expected output

def with_markers(text, begin, end):
    """The block with output markers around each statement followed by `-- =>`
    lines; returns (text, [expected lines per marked statement])."""
    lines = text.splitlines()
    out, expected, statement = [], [], []
    i = 0
    while i < len(lines):
        line = lines[i]
        statement.append(line)
        code = re.sub(r"--.*$", "", line).rstrip()
        complete = code.endswith(";") or code.lstrip().startswith((".", "\\"))
        if complete:
            want = []
            j = i + 1
            while j < len(lines) and lines[j].lstrip().startswith("-- =>"):
                want.append(lines[j].split("-- =>", 1)[1].strip())
                j += 1
            if want:
                n = len(expected)
                out += [begin(n)] + statement + [end(n)]
                expected.append(want)
            else:
                out += statement
            statement = []
            i = j
            continue
        i += 1
    out += statement
    return "\n".join(out) + "\n", expected


def matches(pattern, actual):
    regex = ".*".join(re.escape(part) for part in pattern.split("..."))
    return re.fullmatch(regex, actual) is not None


def check_outputs(case, where, output, expected):
    for n, want in enumerate(expected):
        m = re.search(rf"<<<{n}>>>\n(.*?)>>>{n}<<<", output, re.S)
        case.assertIsNotNone(m, f"{where}: no output for statement {n}:\n{output}")
        got = [l for l in m.group(1).splitlines() if l.strip()]
        case.assertEqual(len(got), len(want), f"{where}: statement {n} printed {got}, the README says {want}")
        for g, w in zip(got, want):
            case.assertTrue(matches(w, g), f"{where}: statement {n} printed\n  {g}\nthe README says\n  {w}")


# ---------------------------------------------------------------- engines

def run(cmd, **kw):
    kw.setdefault("capture_output", True)
    kw.setdefault("text", True)
    kw.setdefault("timeout", 300)
    kw.setdefault("stdin", subprocess.DEVNULL)
    return subprocess.run(cmd, **kw)


def as_postgres(cmd):
    return ["runuser", "-u", "postgres", "--"] + cmd if os.geteuid() == 0 else cmd


class PgServer:
    """A throwaway server, configured with the README's postgresql.conf lines."""

    def __init__(self, conf_lines):
        self.dir = tempfile.mkdtemp(prefix="bgupdate-docs-pg-")
        os.chmod(self.dir, 0o755)
        if os.geteuid() == 0:
            shutil.chown(self.dir, "postgres")
        self.data = os.path.join(self.dir, "data")
        r = run(as_postgres([f"{PGBIN}/initdb", "-D", self.data, "-A", "trust"]))
        assert r.returncode == 0, r.stderr
        with open(os.path.join(self.data, "postgresql.conf"), "a") as f:
            f.write(f"port = {PG_PORT}\nunix_socket_directories = '{self.dir}'\nlisten_addresses = ''\nfsync = off\n")
            f.write("bgupdate.launcher_rescan_ms = 200\n")  # a worker soon after CREATE EXTENSION
            for line in conf_lines:
                f.write(line + "\n")
        r = run(as_postgres([f"{PGBIN}/pg_ctl", "-D", self.data, "-l", os.path.join(self.dir, "log"), "-w", "start"]))
        assert r.returncode == 0, r.stdout + r.stderr + open(os.path.join(self.dir, "log")).read()
        self.databases = 0

    def stop(self):
        run(as_postgres([f"{PGBIN}/pg_ctl", "-D", self.data, "-m", "immediate", "stop"]))
        shutil.rmtree(self.dir, ignore_errors=True)

    def psql(self, db, sql, extra=()):
        path = os.path.join(self.dir, f"block-{time.monotonic_ns()}.sql")
        with open(path, "w") as f:
            f.write(sql)
        os.chmod(path, 0o644)
        return run(as_postgres([f"{PGBIN}/psql", "-X", "-At", "-v", "ON_ERROR_STOP=1", "-h", self.dir,
                                "-p", str(PG_PORT), "-d", db, *extra, "-f", path]))

    def new_database(self):
        self.databases += 1
        name = f"docs{self.databases}"
        r = self.psql("postgres", f"CREATE DATABASE {name};")
        assert r.returncode == 0, r.stderr
        return name

    def one(self, db, sql):
        r = self.psql(db, sql)
        assert r.returncode == 0, r.stderr
        return r.stdout.strip()


SERVER = None


def sqlite_connect(path):
    db = sqlite3.connect(path, isolation_level=None, timeout=10)
    db.enable_load_extension(True)
    db.load_extension(EXTENSION)
    db.enable_load_extension(False)
    return db


def app_dir():
    """A folder like the repository root as the README's relative paths see it
    (./sqlite_extension/bgupdate, examples/...), where the blocks' files land."""
    d = tempfile.mkdtemp(prefix="bgupdate-docs-")
    os.symlink(os.path.join(REPO, "sqlite_extension"), os.path.join(d, "sqlite_extension"))
    os.symlink(os.path.join(REPO, "examples"), os.path.join(d, "examples"))
    return d


# ---------------------------------------------------------------- what each block is

# Blocks that cannot run here, by their first line, and why.
CANNOT_RUN = {
    "make demo    # installs what is missing, builds, runs a 1,000,000-row migration on SQLite with progress":
        "`make check` runs this test (it would run itself), and `make demo` installs Debian packages; "
        "both are what CI runs on every change",
    "make && sudo make install        # builds the core and the extension, installs it (PGXS, PostgreSQL 15)":
        "installs into /usr/lib/postgresql, /usr/share/postgresql and /usr/local/bin, which this shared test "
        "machine must not write; the suites run the same `make -C pg_extension install` into a private copy",
    "bgupdate migrate --db main=postgresql://app@/app_main --db state=postgresql://app@/app_state synapse/storage/schema":
        "needs Synapse's own schema directory (CI has no network); test/tools/test_split_databases.py runs the "
        "same migrate, status, check and wait across two PostgreSQL databases on the project's Synapse-shaped "
        "directories",
    'bgupdate migrate  --db "$DB" schema/ && bgupdate run --db "$DB"':
        "a workflow over an application's schema directory (schema/, $DB, $FRESH are the reader's); "
        "test/tools/test_snapshot.py runs these three steps on both engines and compares the two catalogs",
    "createdb app && psql app -c 'CREATE EXTENSION bgupdate'":
        "names the reader's SQLite file and database; test/tools/test_port.py makes a database with the "
        "extension, migrates it and ports into it (with --json, --batch-size, --progress, --pause-ms and "
        "--sequence) on a throwaway server",
    "PGHOST=/var/run/postgresql PGPORT=5432 PGUSER=postgres make installcheck":
        "needs a server at the system's socket, which this shared test machine does not run; "
        "test/packages/run.sh runs the same installcheck against the packaged extension",
    "test/concurrency/run.sh            # the make check suite: the checker's own checks, then about":
        "the first line is a make check suite (it runs there); the soak and the long checker run take "
        "from ten minutes to an hour",
    "make && sudo make install          # from the repository root (builds the core too)":
        "the same install as README.md's quickstart (see above)",
}


class ReadmeBlocks(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.blocks = read_blocks()

    def claimed(self):
        """Which test runs each block: every block must be claimed exactly once."""
        return {
            "first_example": lambda b: b.doc == "README.md" and b.first_line().startswith(
                "INSERT INTO background_updates (ordering, update_name, depends_on, progress_json)"),
            "sqlite_shell": lambda b: b.first_line() == ".load ./sqlite_extension/bgupdate",
            "python_loop": lambda b: b.lang == "python" and "bgupdate_step()" in b.text and "def " not in b.text,
            "python_handler": lambda b: b.lang == "python" and b.first_line().startswith("def my_handler"),
            "server_config": lambda b: b.lang == "" and b.first_line().startswith("shared_preload_libraries"),
            "pg_quickstart": lambda b: b.lang == "sql" and b.first_line().startswith("CREATE EXTENSION bgupdate;"),
            "node_loop": lambda b: b.lang == "js" and "bgupdate_batch_begin()" in b.text,
            "tool_synopsis": lambda b: b.lang == "sh" and b.first_line().startswith("bgupdate migrate --db sqlite:///var/lib/app.db"),
            "startup_gate": lambda b: b.lang == "sh" and b.first_line().startswith("bgupdate check --db \"$DB\""),
            "example_releases": lambda b: b.doc.startswith("examples/") and b.lang == "sh",
            "cannot_run": lambda b: b.first_line() in CANNOT_RUN,
        }

    def blocks_for(self, name):
        found = [b for b in self.blocks if self.claimed()[name](b)]
        self.assertTrue(found, f"no README block for {name}: was it removed? (then remove its test)")
        return found

    def test_every_block_has_a_test(self):
        claims = self.claimed()
        for b in self.blocks:
            who = [name for name, claim in claims.items() if claim(b)]
            self.assertEqual(len(who), 1, f"{b.where} ({b.lang or 'plain'} block '{b.first_line()}') is run by "
                                          f"{who or 'no test'}: every block needs exactly one")

    def test_cannot_run_blocks_are_still_in_the_readme(self):
        firsts = {b.first_line() for b in self.blocks}
        for line in CANNOT_RUN:
            self.assertIn(line, firsts, "CANNOT_RUN lists a block the READMEs no longer have")

    # ------------------------------------------------------------ SQLite

    def set_up_lines(self, quickstart):
        """A quickstart's lines before it creates its own table: what sets the extension up."""
        lines = []
        for line in quickstart.text.splitlines():
            if line.startswith("CREATE TABLE"):
                break
            lines.append(line)
        return "\n".join(lines) + "\n"

    def test_first_example_on_sqlite(self):
        # As the README says: in a database set up as its SQLite quickstart does.
        set_up = self.set_up_lines(self.blocks_for("sqlite_shell")[0])
        for b in self.blocks_for("first_example"):
            d = app_dir()
            db = sqlite_connect(os.path.join(d, "app.db"))  # the quickstart's .load
            db.executescript("\n".join(l for l in set_up.splitlines() if not l.startswith(".load")))
            db.executescript(b.text)
            self.assertEqual(db.execute("SELECT depends_on FROM background_updates WHERE update_name ="
                                        " 'my_background_update'").fetchone(), ("a_previous_background_update",))
            db.close()

    def test_sqlite_shell_quickstart(self):
        for b in self.blocks_for("sqlite_shell"):
            d = app_dir()
            script, expected = with_markers(b.text, lambda n: f".print <<<{n}>>>", lambda n: f".print >>>{n}<<<")
            r = run(["sqlite3", "-bail", "app.db"], cwd=d, input=script, stdin=None)
            self.assertEqual(r.returncode, 0, f"{b.where}: {r.stderr}")
            self.assertEqual(r.stderr, "", b.where)
            check_outputs(self, b.where, r.stdout, expected)
            db = sqlite_connect(os.path.join(d, "app.db"))
            self.assertEqual(db.execute("SELECT group_concat(new_column) FROM t").fetchone()[0], "100,200,300")
            self.assertEqual(db.execute("SELECT bgupdate_has_completed_all()").fetchone()[0], 1)

    def test_python_loop(self):
        for b in self.blocks_for("python_loop"):
            d = app_dir()
            db = sqlite_connect(os.path.join(d, "app.db"))  # something for the loop to do
            db.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, old_column INT, new_column INT)")
            db.execute("INSERT INTO t (old_column) SELECT value FROM json_each('[1,2,3,4,5]')")
            db.execute("SELECT bgupdate_register_batched_update('fill', 't', '[\"id\"]', 'new_column = old_column')")
            db.execute("SELECT bgupdate_config('default_batch_size', '2')")
            db.execute("SELECT bgupdate_enqueue('fill')")
            db.close()
            r = run(["/usr/bin/python3", "-c", b.text], cwd=d, timeout=120)
            self.assertEqual(r.returncode, 0, f"{b.where}: {r.stderr}")
            db = sqlite_connect(os.path.join(d, "app.db"))
            self.assertEqual(db.execute("SELECT count(*) FROM t WHERE new_column = old_column").fetchone()[0], 5)
            self.assertEqual(db.execute("SELECT bgupdate_has_completed_all()").fetchone()[0], 1)

    def test_python_generic_handler(self):
        for b in self.blocks_for("python_handler"):
            d = app_dir()
            db = sqlite_connect(os.path.join(d, "app.db"))
            db.execute("CREATE TABLE t (id INTEGER PRIMARY KEY)")
            db.execute("INSERT INTO t SELECT value FROM json_each('[1,2,3,4,5,6,7]')")
            db.execute("SELECT bgupdate_config('default_batch_size', '3')")
            exec(compile(b.text, b.where, "exec"), {"db": db, "json": json})  # the block, on the application's db
            db.execute("SELECT bgupdate_enqueue('my_update')")
            steps = 0
            while not json.loads(db.execute("SELECT bgupdate_step()").fetchone()[0])["all_done"]:
                steps += 1
                self.assertLess(steps, 20, f"{b.where}: the handler does not finish")
            row = db.execute("SELECT state, items_done FROM bgupdate_status WHERE update_name = 'my_update'").fetchone()
            self.assertEqual(row, ("complete", 7), b.where)

    def test_node_application_batches(self):
        for b in self.blocks_for("node_loop"):
            self.assertTrue(os.path.isdir(os.path.join(NODE_MODULES, "better-sqlite3")),
                            "better-sqlite3 is missing: test/docs/run.sh installs it as test/node/run.sh does")
            d = app_dir()
            path = os.path.join(d, "app.db")
            db = sqlite_connect(path)
            db.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, a INT, b INT)")
            db.execute("WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 250)"
                       " INSERT INTO t SELECT i, i, NULL FROM n")
            db.execute("SELECT bgupdate_register_application_update('double_a')")
            db.execute("SELECT bgupdate_enqueue('double_a')")
            db.close()
            script = (f"const Database = require('better-sqlite3');\n"
                      f"const db = new Database({json.dumps(path)});\n"
                      f"db.loadExtension({json.dumps(EXTENSION)});\n" + b.text + "\ndb.close();\n")
            r = run(["node", "-e", script], cwd=d, env=dict(os.environ, NODE_PATH=NODE_MODULES), timeout=120)
            self.assertEqual(r.returncode, 0, f"{b.where}: {r.stderr}")
            db = sqlite_connect(path)
            self.assertEqual(db.execute("SELECT count(*) FROM t WHERE b = a * 2").fetchone()[0], 250, b.where)
            self.assertEqual(db.execute("SELECT bgupdate_has_completed('double_a')").fetchone()[0], 1)

    # ------------------------------------------------------------ PostgreSQL

    def test_server_config_lines_are_the_test_servers(self):
        for b in self.blocks_for("server_config"):
            self.assertEqual(b.text.strip(), "shared_preload_libraries = 'bgupdate'", b.where)
        self.assertEqual(SERVER.one("postgres", "SHOW shared_preload_libraries;"), "bgupdate")

    def test_first_example_on_postgresql(self):
        # As the README says: in a database set up as its PostgreSQL quickstart does.
        quickstart = next(q for q in self.blocks_for("pg_quickstart") if q.doc == "README.md")
        for b in self.blocks_for("first_example"):
            db = SERVER.new_database()
            r = SERVER.psql(db, self.set_up_lines(quickstart))
            self.assertEqual(r.returncode, 0, r.stderr)
            r = SERVER.psql(db, b.text)
            self.assertEqual(r.returncode, 0, f"{b.where} on PostgreSQL: {r.stderr}")
            self.assertEqual(SERVER.one(db, "SELECT depends_on FROM bgupdate.background_updates"
                                            " WHERE update_name = 'my_background_update';"),
                             "a_previous_background_update")

    def test_postgresql_quickstarts(self):
        for b in self.blocks_for("pg_quickstart"):
            db = SERVER.new_database()
            script, expected = with_markers(b.text, lambda n: f"\\echo <<<{n}>>>", lambda n: f"\\echo >>>{n}<<<")
            r = SERVER.psql(db, script)
            self.assertEqual(r.returncode, 0, f"{b.where}: {r.stderr}")
            check_outputs(self, b.where, r.stdout, expected)
            left = SERVER.one(db, "SELECT count(*) FROM bgupdate.status WHERE state <> 'complete';")
            # The block finishes what it relies on; the rest is the worker's, which runs by itself.
            if left != "0":
                deadline = time.monotonic() + 120
                while SERVER.one(db, "SELECT bgupdate.has_completed_all();") != "t":
                    self.assertLess(time.monotonic(), deadline, f"{b.where}: the worker did not finish the queue")
                    time.sleep(0.2)

    # ------------------------------------------------------------ the tool

    def test_tool_synopsis_names_real_commands_and_options(self):
        # A synopsis (alternatives a|b, [optional parts], NAME… placeholders,
        # a Synapse checkout's path), not commands to run: each form's command
        # and options must exist; test/tools/test_cli.py runs every command.
        for b in self.blocks_for("tool_synopsis"):
            for line in b.text.splitlines():
                line = line.split("#", 1)[0].strip()
                if not line:
                    continue
                words = line.split()
                self.assertEqual(words[0], "bgupdate", f"{b.where}: {line}")
                for command in words[1].split("|"):
                    r = run([os.path.join(TOOL_DIR, "bgupdate"), command, "--help"])
                    self.assertEqual(r.returncode, 0, f"{b.where}: '{command}' is not a command: {r.stderr}")
                    for option in re.findall(r"(--[a-z][a-z-]*)", line):
                        self.assertIn(option, r.stdout, f"{b.where}: '{command}' has no option {option}")

    def example_database(self, d, target):
        url = "sqlite://" + os.path.join(d, "app.db")
        for release, compat in ((100, None), (101, 100), (102, 101))[: target - 99]:
            args = [os.path.join(TOOL_DIR, "bgupdate"), "migrate", "--db", url, "examples/gradual_not_null",
                    "--target", str(release)] + (["--compat-version", str(compat)] if compat else [])
            r = run(args, cwd=d)
            self.assertEqual(r.returncode, 0, r.stderr)
        return url

    def run_lines(self, b, cwd, env, replace=()):
        """Each line of a shell block on its own, in bash, with the exit code
        its comment names (`# ... exit N`) or 0."""
        for line in b.text.splitlines():
            if not line.strip():
                continue
            command = line
            for old, new in replace:
                command = command.replace(old, new)
            want = re.search(r"#.*\bexit (\d+)\s*$", line)
            r = run(["bash", "-c", command], cwd=cwd, env=env)
            self.assertEqual(r.returncode, int(want.group(1)) if want else 0,
                             f"{b.where}: {line}\n{r.stdout}{r.stderr}")

    def test_startup_gate(self):
        for b in self.blocks_for("startup_gate"):
            d = app_dir()
            url = self.example_database(d, 102)
            r = run([os.path.join(TOOL_DIR, "bgupdate"), "run", "--db", url], cwd=d)
            self.assertEqual(r.returncode, 0, r.stderr)
            env = dict(os.environ, DB=url, PATH=TOOL_DIR + os.pathsep + os.environ["PATH"])
            self.run_lines(b, d, env)

    def test_example_releases(self):
        # /tmp/app.db is shared on this machine: the test's own file stands in for it.
        for b in self.blocks_for("example_releases"):
            d = app_dir()
            env = dict(os.environ, PATH=TOOL_DIR + os.pathsep + os.environ["PATH"])
            self.run_lines(b, d, env, replace=[("sqlite:///tmp/app.db", "sqlite://" + os.path.join(d, "app.db"))])
            db = sqlite_connect(os.path.join(d, "app.db"))
            cols = {r[1]: r[3] for r in db.execute("PRAGMA table_info(mytable)")}
            self.assertEqual(cols, {"id": 0, "new_column": 1}, "release N+5: new_column NOT NULL, old_column gone")


def main():
    global SERVER
    conf = []
    for b in read_blocks():
        if b.lang == "" and b.first_line().startswith("shared_preload_libraries"):
            conf += [l for l in b.text.splitlines() if l.strip()]
    SERVER = PgServer(sorted(set(conf)))
    try:
        result = unittest.TextTestRunner(verbosity=2, stream=sys.stdout).run(
            unittest.TestLoader().loadTestsFromTestCase(ReadmeBlocks))
    finally:
        SERVER.stop()
    failed = len({t.id() for t, _ in result.failures + result.errors})
    passed = result.testsRun - failed - len(result.skipped)
    print(f"{passed} passed, {failed} failed")
    return 0 if failed == 0 and result.testsRun > 0 else 1


if __name__ == "__main__":
    sys.exit(main())
