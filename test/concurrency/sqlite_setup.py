"""SQLite set-up for the checker: one WAL database file, the means to inject
failures (triggers that raise while chk_faults says so, so that they fire
on every connection, the background thread's too), each round's tables and
registrations, and the generic handlers every connection defines."""
import json
import sqlite3

from plan import CHECK_CONSTRAINT

OWNERS = ("m", "n")  # two groups of tables, so that updates on different tables interleave

COMMON_SQL = """
CREATE TABLE chk_faults (update_name TEXT PRIMARY KEY, until_at REAL NOT NULL);
"""

# Seconds since the epoch inside SQLite (unixepoch('subsec') needs 3.42).
NOW = "(julianday('now') - 2440587.5) * 86400.0"

# Python's sqlite3 reports any exception raised in an application function
# with this text, whatever the exception said.
UDF_ERROR = "user-defined function raised exception"


def table_name(u_or_owner, table=None):
    if table is None:
        return f"{u_or_owner.owner}_{u_or_owner.table}"
    return f"{u_or_owner}_{table}"


def connect(path, extension, timeout=5.0):
    db = sqlite3.connect(path, isolation_level=None, timeout=timeout, check_same_thread=False)
    db.enable_load_extension(True)
    db.load_extension(extension)
    db.enable_load_extension(False)
    return db


def _fault_trigger(db, name, when, table, update_name):
    db.execute(f"CREATE TRIGGER {name} BEFORE {when} ON {table} WHEN EXISTS (SELECT 1 FROM chk_faults "
               f"WHERE update_name = '{update_name}' AND until_at > {NOW}) "
               f"BEGIN SELECT RAISE(ABORT, 'injected fault in {update_name}'); END")


def create_round(db, rnd):
    db.execute("BEGIN IMMEDIATE")
    for (owner, name), t in rnd.tables.items():
        q = table_name(owner, name)
        if name.startswith("t_"):
            db.execute(f"CREATE TABLE {q} (id INTEGER PRIMARY KEY, c INT NOT NULL DEFAULT 0, d INT NOT NULL DEFAULT 0)")
        elif name.startswith("g_"):
            db.execute(f"CREATE TABLE {q} (id INTEGER PRIMARY KEY, arr TEXT NOT NULL DEFAULT '[]')")
        elif name.startswith("a_"):
            db.execute(f"CREATE TABLE {q} (id INTEGER PRIMARY KEY)")
        elif name.startswith("v_"):
            db.execute(f"CREATE TABLE {q} (id INTEGER PRIMARY KEY, v INT)")
        if name.startswith("v_"):
            # Good rows hold final_checks.vd_value(id); breaking rows NULL.
            db.executemany(f"INSERT INTO {q} (id, v) VALUES (?, ?)",
                           [(k, None if k in t.bad else k % 97 + 1) for k in t.keys])
        else:
            db.executemany(f"INSERT INTO {q} (id) VALUES (?)", [(k,) for k in t.keys])
    for u in rnd.updates:
        tbl = table_name(u)
        if u.kind in ("gen_log", "app"):
            db.execute(f"CREATE TABLE {table_name(u.owner, u.log_table)} (id INTEGER NOT NULL)")
        if u.kind == "bump":
            _fault_trigger(db, f"fault_c_{tbl}", "UPDATE OF c", tbl, u.name)
            db.execute("SELECT bgupdate_register_batched_update(?, ?, '[\"id\"]', 'c = c + 1')", (u.name, tbl))
        elif u.kind == "bump2":
            _fault_trigger(db, f"fault_d_{tbl}", "UPDATE OF d", tbl, u.name)
            db.execute("SELECT bgupdate_register_batched_update(?, ?, '[\"id\"]', 'd = d + 1')", (u.name, tbl))
        elif u.kind == "idx":
            db.execute("SELECT bgupdate_register_index_update(?, ?, ?, '[\"c\"]')", (u.name, u.index_name, tbl))
        elif u.kind == "gen_array":
            _fault_trigger(db, f"fault_g_{tbl}", "UPDATE OF arr", tbl, u.name)
            db.execute("SELECT bgupdate_register_update_handler(?, ?)", (u.name, handler_name(u)))
        elif u.kind == "gen_log":
            _fault_trigger(db, f"fault_g_{tbl}", "INSERT", table_name(u.owner, u.log_table), u.name)
            db.execute("SELECT bgupdate_register_update_handler(?, ?)", (u.name, handler_name(u)))
        elif u.kind == "app":
            db.execute("SELECT bgupdate_register_application_update(?)", (u.name,))
        elif u.kind == "vc":
            db.execute("SELECT bgupdate_register_validate_constraint(?, ?, ?)", (u.name, CHECK_CONSTRAINT, tbl))
        elif u.kind == "vd":
            _fault_trigger(db, f"fault_v_{tbl}", "DELETE", tbl, u.name)
            db.execute("SELECT bgupdate_register_validate_constraint_and_delete_rows(?, ?, 'v_not_null', ?, '[\"id\"]')",
                       (u.name, tbl, json.dumps({"not_null": "v"})))
    for u in rnd.updates:
        db.execute("SELECT bgupdate_enqueue(?, ?, ?)", (u.name, u.ordering, u.depends_on or None))
    db.execute("COMMIT")


def handler_name(u):
    return f"h_{u.name}"


def define_handlers(db, rnd, nested=None):
    """The generic handlers of the round's gen_* updates on this connection:
    the rows after the last one done, one array element (or log row) each,
    progress saved; the update ends when a batch finds fewer rows than asked.
    nested: a callable run inside each batch (calls into bgupdate from a batch)."""
    for u in rnd.updates:
        if u.kind in ("gen_array", "gen_log"):
            db.create_function(handler_name(u), 2, _make_handler(db, u, nested))
            # The application allows batches on this connection to call it
            # (a database file names functions; only allowed ones run).
            # Builds from before that rule have no such function.
            try:
                db.execute("SELECT bgupdate_allow_function(?)", (handler_name(u),))
            except sqlite3.OperationalError as e:
                if "no such function" not in str(e):
                    raise


def _make_handler(db, u, nested):
    tbl = table_name(u)
    if u.kind == "gen_array":
        work = f"UPDATE {tbl} SET arr = json_insert(arr, '$[#]', 1) WHERE id > ? AND id <= ?"
    else:
        work = f"INSERT INTO {table_name(u.owner, u.log_table)} (id) SELECT id FROM {tbl} WHERE id > ? AND id <= ?"

    def handler(progress, batch_size):
        if nested:
            nested(u.name)
        last = json.loads(progress or "{}").get("last_id", -1)
        ids = [r[0] for r in db.execute(f"SELECT id FROM {tbl} WHERE id > ? ORDER BY id LIMIT ?", (last, batch_size))]
        if ids:
            db.execute(work, (last, ids[-1]))
            db.execute("SELECT bgupdate_update_progress(?, ?)", (u.name, json.dumps({"last_id": ids[-1]})))
        if len(ids) < batch_size:
            db.execute("SELECT bgupdate_end_update(?)", (u.name,))
        return len(ids)

    return handler


APP_VARIANTS = {"normal": 70, "own_transaction": 10, "rollback_before_end": 5, "batch_fail": 5,
                "end_then_rollback": 5, "commit_before_end": 5}


def app_batch(db, rnd, variant="normal"):
    """One application-run batch; returns an outcome word. In autocommit mode
    batch_begin opens the batch's transaction and batch_end commits it; inside
    the application's own transaction (own_transaction, end_then_rollback)
    the batch is a savepoint and the application's COMMIT or ROLLBACK decides."""
    own = variant in ("own_transaction", "end_then_rollback")
    if own:
        db.execute("BEGIN IMMEDIATE")
    b = json.loads(db.execute("SELECT bgupdate_batch_begin()").fetchone()[0])
    name = b.get("update_name")
    if not name:
        if own:
            db.execute("COMMIT")
        return "lock timeout" if b.get("lock_timeout") else "nothing to run"
    u = rnd.update(name)
    if u is None:
        db.execute("SELECT bgupdate_batch_end(0)")
        if own:
            db.execute("COMMIT")
        return "not the round's"
    if db.execute(f"SELECT EXISTS (SELECT 1 FROM chk_faults WHERE update_name = ? AND until_at > {NOW})",
                  (name,)).fetchone()[0]:
        variant = "batch_fail"
    if variant == "commit_before_end" and not own:
        # bgupdate turns a COMMIT that would end an open batch into a
        # ROLLBACK (SQLite then fails the COMMIT with "constraint failed")
        # and records the batch as failed.
        try:
            db.execute("COMMIT")
            committed = "commit before batch_end"
        except sqlite3.IntegrityError:
            committed = "commit before batch_end rolled back"
        out = json.loads(db.execute("SELECT bgupdate_batch_end(0)").fetchone()[0])
        return committed if out.get("error") else committed + ", then batch_end accepted"
    last = (b.get("progress") or {}).get("last_id", -1)
    size = b["batch_size"]
    tbl = table_name(u)
    ids = [r[0] for r in db.execute(f"SELECT id FROM {tbl} WHERE id > ? ORDER BY id LIMIT ?", (last, size))]
    hi = ids[-1] if ids else last
    if ids:
        db.execute(f"INSERT INTO {table_name(u.owner, u.log_table)} (id) SELECT id FROM {tbl} WHERE id > ? AND id <= ?",
                   (last, hi))
    if variant == "rollback_before_end" and not own:
        db.execute("ROLLBACK")
        db.execute("SELECT bgupdate_batch_end(0)")
        return "rollback before batch_end"
    if variant == "batch_fail":
        db.execute("SELECT bgupdate_batch_fail(?)", (f"injected fault in {name} (batch_fail)",))
        if own:
            db.execute("COMMIT")  # the savepoint is rolled back; the failure record stays
        return "batch_fail"
    out = json.loads(db.execute("SELECT bgupdate_batch_end(?, ?, ?)",
                                (len(ids), json.dumps({"last_id": hi}), int(len(ids) < size))).fetchone()[0])
    if variant == "end_then_rollback":
        db.execute("ROLLBACK")
        return "batch_end then rollback"
    if own:
        db.execute("COMMIT")
    return "batch failed" if out.get("error") else "committed"
