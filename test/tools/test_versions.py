#!/usr/bin/python3
"""One version everywhere: the top-level VERSION file gives the PostgreSQL
extension's default_version (control file), its upgrade-script chain and the
library's own version (bgupdate.version(), and the schema version it insists
on), the SQLite extension's bgupdate_version(), `bgupdate --version`, the
Debian package version (debian/changelog) and CHANGELOG.md's newest entry;
and the tool warns on stderr, exit status unchanged, when a database's
extension is of another version.

Run by test/tools/run.sh (BGUPDATE_TEST_PG: a throwaway server with the
extension as installed); ends with "N passed, N failed"."""
import json
import os
import re
import sqlite3
import subprocess
import sys
import tempfile
import unittest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.realpath(__file__))))
TOOL = os.path.join(REPO, "tools", "bgupdate")
EXTENSION = os.path.join(REPO, "sqlite_extension", "bgupdate")
PG_ADMIN = os.environ.get("BGUPDATE_TEST_PG")  # conninfo of a throwaway server (postgres database)

with open(os.path.join(REPO, "VERSION"), encoding="utf-8") as f:
    VERSION = f.read().strip()


def run(*args, **kw):
    return subprocess.run(list(args), capture_output=True, text=True, **kw)


class VersionSources(unittest.TestCase):
    """Everything that is written down agrees with VERSION."""

    def test_version_file_holds_one_version(self):
        self.assertRegex(VERSION, r"^[0-9]+\.[0-9]+(\.[0-9]+)?$")

    def test_control_file_is_made_from_version(self):
        with open(os.path.join(REPO, "pg_extension", "bgupdate.control.in"), encoding="utf-8") as f:
            self.assertIn("default_version = '@VERSION@'", f.read())
        r = run("make", "-s", "-C", os.path.join(REPO, "pg_extension"), "bgupdate.control")
        self.assertEqual(r.returncode, 0, r.stderr)
        with open(os.path.join(REPO, "pg_extension", "bgupdate.control"), encoding="utf-8") as f:
            self.assertIn(f"default_version = '{VERSION}'", f.read())

    def test_upgrade_scripts_lead_from_the_first_version_to_version(self):
        names = os.listdir(os.path.join(REPO, "pg_extension"))
        bases = {m.group(1) for n in names if (m := re.fullmatch(r"bgupdate--([0-9.]+)\.sql", n))}
        steps = {}
        for n in names:
            if m := re.fullmatch(r"bgupdate--([0-9.]+)--([0-9.]+)\.sql", n):
                steps.setdefault(m.group(1), []).append(m.group(2))
        self.assertEqual(bases, {"1.0"}, "CREATE EXTENSION installs the shipped 1.0 and upgrades from there")
        reached, todo = set(bases), list(bases)
        while todo:
            for nxt in steps.get(todo.pop(), []):
                if nxt not in reached:
                    reached.add(nxt)
                    todo.append(nxt)
        self.assertIn(VERSION, reached, f"no chain of upgrade scripts from 1.0 to {VERSION}")

    def test_debian_changelog_is_at_version(self):
        r = run("dpkg-parsechangelog", "-l", os.path.join(REPO, "debian", "changelog"), "-S", "Version")
        self.assertEqual(r.returncode, 0, r.stderr)
        with open(os.path.join(REPO, "debian", "source", "format"), encoding="utf-8") as f:
            native = "native" in f.read()
        got = r.stdout.strip()
        # A native package's version is VERSION itself; otherwise VERSION-<debian revision>.
        self.assertEqual(got if native else got.rsplit("-", 1)[0], VERSION)

    def test_changelog_md_newest_entry_is_version(self):
        with open(os.path.join(REPO, "CHANGELOG.md"), encoding="utf-8") as f:
            headings = [line[3:].strip() for line in f if line.startswith("## ")]
        self.assertTrue(headings, "CHANGELOG.md has no '## <version>' entry")
        self.assertEqual(headings[0], VERSION)


class BuiltVersions(unittest.TestCase):
    """The built programs report VERSION."""

    def test_tool_version(self):
        r = run(TOOL, "--version")
        self.assertEqual((r.returncode, r.stdout.strip()), (0, f"bgupdate {VERSION}"))

    def test_sqlite_extension_version(self):
        db = sqlite3.connect(":memory:")
        db.enable_load_extension(True)
        db.load_extension(EXTENSION)
        self.assertEqual(db.execute("SELECT bgupdate_version()").fetchone()[0], VERSION)


def sqlite_extension_reporting(version, directory):
    """The SQLite extension linked with another version.o: a stand-in for an
    extension of another release."""
    obj = os.path.join(directory, "version.o")
    so = os.path.join(directory, "bgupdate.so")
    r = run("g++", "-std=c++17", "-fPIC", f'-DBGUPDATE_VERSION="{version}"', "-c",
            os.path.join(REPO, "common", "version.cpp"), "-o", obj)
    if r.returncode != 0:
        raise RuntimeError(r.stderr)
    ext_dir = os.path.join(REPO, "sqlite_extension")
    objs = sorted(os.path.join(ext_dir, n) for n in os.listdir(ext_dir) if n.endswith(".o"))
    # version.o comes first, so the archive's own version.o is never pulled in.
    r = run("g++", "-shared", "-fPIC", "-o", so, obj, *objs, os.path.join(REPO, "common", "libbgupdate_core.a"),
            "-ljansson", "-lpthread", "-Wl,--no-undefined", "-Wl,--exclude-libs,ALL")
    if r.returncode != 0:
        raise RuntimeError(r.stderr)
    return so


class ToolWarnsOnSqlite(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.db = os.path.join(self.tmp.name, "app.db")
        sqlite3.connect(self.db).close()

    def tearDown(self):
        self.tmp.cleanup()

    def status(self, extension):
        return run(TOOL, "status", "--json", "--db", "sqlite://" + self.db, "--extension", extension)

    def test_same_version_no_warning(self):
        r = self.status(EXTENSION + ".so")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stderr, "")

    def test_other_version_warns_and_keeps_exit_status_and_output(self):
        other = sqlite_extension_reporting("0.9", self.tmp.name)
        same = self.status(EXTENSION + ".so")
        r = self.status(other)
        self.assertEqual(r.returncode, same.returncode)
        self.assertEqual(json.loads(r.stdout), json.loads(same.stdout))
        self.assertIn(f"bgupdate: warning: the SQLite extension '{other}' is version 0.9, this tool is version {VERSION}",
                      r.stderr)
        self.assertEqual(len(r.stderr.strip().splitlines()), 1, r.stderr)


@unittest.skipUnless(PG_ADMIN, "BGUPDATE_TEST_PG is not set (test/tools/run.sh starts a server)")
class PostgresVersions(unittest.TestCase):
    """The installed extension: control file, scripts and library agree."""

    @classmethod
    def setUpClass(cls):
        import psycopg2
        cls.psycopg2 = psycopg2

    def fresh_db(self, name):
        admin = self.psycopg2.connect(PG_ADMIN)
        admin.autocommit = True
        with admin.cursor() as c:
            c.execute(f'DROP DATABASE IF EXISTS "{name}"')
            c.execute(f'CREATE DATABASE "{name}"')
        admin.close()
        conninfo = PG_ADMIN.replace("dbname=postgres", f"dbname={name}")
        conn = self.psycopg2.connect(conninfo)
        conn.autocommit = True
        self.addCleanup(conn.close)
        return conn, conninfo

    @staticmethod
    def one(conn, sql):
        with conn.cursor() as c:
            c.execute(sql)
            return c.fetchone()[0]

    def test_server_offers_version(self):
        conn, _ = self.fresh_db("versions_available")
        self.assertEqual(self.one(conn, "SELECT default_version FROM pg_available_extensions WHERE name = 'bgupdate'"),
                         VERSION)

    def test_create_extension_library_and_schema_agree(self):
        conn, _ = self.fresh_db("versions_create")
        with conn.cursor() as c:
            c.execute("CREATE EXTENSION bgupdate")
        self.assertEqual(self.one(conn, "SELECT extversion FROM pg_extension WHERE extname = 'bgupdate'"), VERSION)
        self.assertEqual(self.one(conn, "SELECT bgupdate.version()"), VERSION)
        # The library refuses a schema of another version: a call that works shows they agree.
        self.assertIs(self.one(conn, "SELECT bgupdate.enabled()"), True)

    def test_upgrade_from_1_0_reaches_version(self):
        conn, _ = self.fresh_db("versions_upgrade")
        with conn.cursor() as c:
            c.execute("CREATE EXTENSION bgupdate VERSION '1.0'")
            c.execute("ALTER EXTENSION bgupdate UPDATE")
        self.assertEqual(self.one(conn, "SELECT extversion FROM pg_extension WHERE extname = 'bgupdate'"), VERSION)
        self.assertIs(self.one(conn, "SELECT bgupdate.enabled()"), True)

    def test_tool_warns_about_an_older_extension(self):
        conn, conninfo = self.fresh_db("versions_warn")
        with conn.cursor() as c:
            c.execute("CREATE EXTENSION bgupdate VERSION '1.1'")
        r = run(TOOL, "status", "--db", conninfo)
        self.assertIn(f"bgupdate: warning: the bgupdate extension in this database is version 1.1, "
                      f"this tool is version {VERSION}", r.stderr)
        # The warning changes nothing: the library's own refusal decides the exit status.
        self.assertIn("run ALTER EXTENSION bgupdate UPDATE", r.stderr)
        self.assertEqual(r.returncode, 1)
        with conn.cursor() as c:
            c.execute("ALTER EXTENSION bgupdate UPDATE")
        r = run(TOOL, "status", "--db", conninfo)
        self.assertEqual((r.returncode, r.stderr), (0, ""))


if __name__ == "__main__":
    result = unittest.main(exit=False, verbosity=2).result
    failed = len(result.failures) + len(result.errors)
    skipped = len(result.skipped)
    print(f"{result.testsRun - failed - skipped} passed, {failed + skipped} failed")
    sys.exit(1 if failed or skipped else 0)
