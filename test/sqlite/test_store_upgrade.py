"""bgupdate's own tables in a file (the store) carry a store version, kept
in the table bgupdate_store_version (PRAGMA user_version is the
application's). Loading the extension on a file an earlier release made
upgrades it in place, keeping a queued update's progress and history, and
the update then runs to its end; a file from a newer build is refused and
left untouched; an upgrade that fails at a step leaves the file as it was.
The earlier layouts are fixtures/store_layout_*.sql, taken from git history."""
import os
import sqlite3
import threading

from helpers import DbTestCase, connect

FIXTURES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fixtures")
STORE_TABLES_LIKE = ("bgupdate_%", "background_updates", "schema_version", "schema_compat_version",
                     "applied_schema_deltas")


def fixture(name):
    """An earlier store layout, with what that release left in the file."""
    parts = []
    for part in (name, "store_contents_half_done_update"):
        with open(os.path.join(FIXTURES, part + ".sql")) as f:
            parts.append(f.read())
    return "\n".join(parts)


def write_plain(path, sql):
    """Writes to the file as an earlier release or the application would: no extension loaded."""
    db = sqlite3.connect(path, isolation_level=None)
    try:
        db.executescript(sql)
    finally:
        db.close()


def store_layout(db):
    """Every store table's columns as SQLite describes them, and the store's triggers."""
    where = " OR ".join("name LIKE ?" for _ in STORE_TABLES_LIKE)
    tables = [r[0] for r in db.execute(
        f"SELECT name FROM sqlite_master WHERE type = 'table' AND ({where}) ORDER BY name", STORE_TABLES_LIKE)]
    layout = {t: db.execute("SELECT name, type, \"notnull\", dflt_value, pk FROM pragma_table_info(?) ORDER BY cid",
                            (t,)).fetchall() for t in tables}
    layout["triggers"] = [r[0] for r in db.execute(
        "SELECT name FROM sqlite_master WHERE type = 'trigger' AND name LIKE 'bgupdate_%' ORDER BY name")]
    return layout


def everything(db):
    """The whole schema of the file, as SQLite keeps it."""
    return db.execute("SELECT type, name, tbl_name, sql FROM sqlite_master ORDER BY type, name").fetchall()


class StoreTestCase(DbTestCase):
    def fresh(self):
        """A new file's store: its layout and its store version."""
        db = connect(os.path.join(self.tmpdir, "fresh.db"))
        try:
            db.execute("SELECT bgupdate_enabled()")
            return store_layout(db), db.execute("SELECT version FROM bgupdate_store_version").fetchone()[0]
        finally:
            db.close()

    def store_version(self):
        return self.one("SELECT version FROM bgupdate_store_version")


class UpgradeFromEarlierLayouts(StoreTestCase):
    LAYOUTS = ["store_layout_1_0", "store_layout_ordering_triggers", "store_layout_1_1", "store_layout_1_2"]

    def check_upgrade(self, name):
        write_plain(self.path, fixture(name))
        layout, latest = self.fresh()
        self.assertEqual(self.one("SELECT count(*) FROM sqlite_master WHERE name = 'bgupdate_store_version'"), 0)

        self.db.execute("SELECT bgupdate_enabled()")  # any bgupdate call brings the store up to date
        self.assertEqual(self.store_version(), latest)
        self.assertEqual(store_layout(self.db), layout, "the upgraded file has a new file's layout")
        self.assertEqual(self.one("SELECT progress_json FROM background_updates WHERE update_name = 'double_v'"),
                         '{"lower_bound": [40]}', "the queued update's progress is kept")
        self.assertEqual(self.one("SELECT count(*) FROM bgupdate_history WHERE update_name = 'double_v'"), 4)
        self.assertEqual(self.one("SELECT items_done FROM bgupdate_state WHERE update_name = 'double_v'"), 40)
        self.assertEqual(self.one("SELECT version FROM schema_version"), 70, "the application's schema version stays")
        self.assertEqual(self.one("PRAGMA user_version"), 0, "the application's user_version is not bgupdate's")

        self.step_until_done()
        self.assertEqual(self.one("SELECT count(*) FROM items WHERE v = id * 2"), 100, "every row done")
        self.assertEqual(self.one("SELECT sum(items) FROM bgupdate_history WHERE update_name = 'double_v'"
                                  " AND event = 'batch' AND at NOT LIKE '2026-11-20%'"), 60,
                         "only the rows after the saved progress were done: nothing redone")
        self.assertEqual(self.one("SELECT count(*) FROM bgupdate_history WHERE at LIKE '2026-11-20%'"), 4,
                         "the earlier history is kept")
        self.assertEqual(self.status()["double_v"]["state"], "complete")
        self.assertEqual(self.one("SELECT items_done FROM bgupdate_state WHERE update_name = 'double_v'"), 100)

    def test_release_1_0(self):
        self.check_upgrade("store_layout_1_0")

    def test_builds_with_the_queue_ordering_triggers(self):
        self.check_upgrade("store_layout_ordering_triggers")

    def test_release_1_1(self):
        self.check_upgrade("store_layout_1_1")

    def test_release_1_2(self):
        self.check_upgrade("store_layout_1_2")

    def test_an_up_to_date_file_is_not_changed(self):
        write_plain(self.path, fixture("store_layout_1_2"))
        self.db.execute("SELECT bgupdate_enabled()")
        before = everything(self.db)
        changes = self.db.total_changes
        self.db.execute("SELECT bgupdate_enabled()")
        self.assertEqual(everything(self.db), before)
        self.assertEqual(self.db.total_changes, changes)


class ConnectionsAtOnce(StoreTestCase):
    def test_several_connections_upgrading_at_once_upgrade_it_once(self):
        write_plain(self.path, fixture("store_layout_1_0"))
        _, latest = self.fresh()
        n = 4
        start, errors = threading.Barrier(n), []

        def first_call():
            db = connect(self.path)  # the extension loaded, nothing asked yet
            try:
                start.wait()
                db.execute("SELECT bgupdate_enabled()").fetchall()
            except sqlite3.Error as e:
                errors.append(str(e))
            finally:
                db.close()

        threads = [threading.Thread(target=first_call) for _ in range(n)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        self.assertEqual(errors, [])
        self.assertEqual(self.store_version(), latest)
        self.assertEqual(self.one("SELECT count(*) FROM bgupdate_store_version"), 1)
        self.assertEqual(self.one("SELECT count(*) FROM pragma_table_info('bgupdate_state') WHERE name = 'size_cap'"), 1)


class AFileFromANewerBuild(StoreTestCase):
    def test_is_refused_and_left_untouched(self):
        write_plain(self.path, fixture("store_layout_1_2"))
        self.db.execute("SELECT bgupdate_enabled()")
        _, latest = self.fresh()
        # A newer bgupdate has used the file since (and dropped a trigger this build would make).
        write_plain(self.path, f"UPDATE bgupdate_store_version SET version = {latest + 1};"
                               " DROP TRIGGER bgupdate_queue_ordering_insert;")
        before = everything(self.db)
        for sql in ("SELECT bgupdate_step()", "SELECT bgupdate_enabled()", "SELECT * FROM bgupdate_status"):
            with self.subTest(sql=sql):
                self.assertSqlError(sql, (), f"store version {latest + 1}", f"newer than this build's {latest}")
        self.assertEqual(everything(self.db), before)
        self.assertEqual(self.store_version(), latest + 1)
        self.assertEqual(self.one("SELECT progress_json FROM background_updates"), '{"lower_bound": [40]}')


class AFailingUpgradeStep(StoreTestCase):
    # The application has a view under the name a later store version gives its table.
    IN_THE_WAY = "CREATE VIEW bgupdate_logical_databases AS SELECT 'main' AS name, '' AS recorded_at;"

    def check_rolled_back(self, sql, whence):
        write_plain(self.path, sql + self.IN_THE_WAY)
        before = everything(self.db)
        self.assertSqlError("SELECT bgupdate_step()", (), f"from {whence} to version",
                            "step 'create table bgupdate_logical_databases'", "already exists",
                            "nothing was changed")
        self.assertEqual(everything(self.db), before, "the steps before the failing one were undone")
        # Once the view is out of the way, the upgrade and the update go through.
        write_plain(self.path, "DROP VIEW bgupdate_logical_databases;")
        self.step_until_done()
        self.assertEqual(self.one("SELECT count(*) FROM items WHERE v = id * 2"), 100)
        self.assertEqual(self.store_version(), self.fresh()[1])

    def test_from_a_file_made_before_store_versions(self):
        self.check_rolled_back(fixture("store_layout_1_0"), "a layout made before store versions")

    def test_from_an_earlier_store_version(self):
        # Store version 1 is the 1.0 layout with its version row.
        stamped = fixture("store_layout_1_0") + (
            "CREATE TABLE bgupdate_store_version (lock CHAR(1) NOT NULL DEFAULT 'X' UNIQUE, version INT NOT NULL,"
            " CHECK (lock = 'X')); INSERT INTO bgupdate_store_version (version) VALUES (1);")
        self.check_rolled_back(stamped, "store version 1")
