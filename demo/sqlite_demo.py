#!/usr/bin/python3
"""bgupdate on SQLite, end to end (run by `make demo`).

Synapse's seed example on a 1,000,000-row table: add a nullable column, back-fill
it in small batches with bgupdate while the application keeps writing, make sure
it finished, rebuild the table with NOT NULL, and verify the result.
"""
import json
import os
import random
import sqlite3
import sys
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
EXTENSION = os.path.join(ROOT, "sqlite_extension", "bgupdate.so")
DEMO_DIR = os.path.join(ROOT, "build", "demo")
DB_PATH = os.path.join(DEMO_DIR, "demo.db")
ROWS = int(os.environ.get("BGUPDATE_DEMO_ROWS", "1000000"))
SLEEP_MS = 20  # pacing between batches (the default is Synapse's 1000 ms)


def say(text=""):
    print(text, flush=True)


def heading(n, text):
    say()
    say(f"[{n}] {text}")


def bar(percent, width=30):
    filled = int(round(width * min(max(percent, 0.0), 100.0) / 100.0))
    return "#" * filled + "." * (width - filled)


def fmt_rate(per_s):
    if per_s >= 1e6:
        return f"{per_s / 1e6:.1f}M rows/s"
    if per_s >= 1e3:
        return f"{per_s / 1e3:.0f}k rows/s"
    return f"{per_s:.0f} rows/s"


def fmt_eta(seconds):
    if seconds is None:
        return "ETA  --"
    if seconds < 60:
        return f"ETA {seconds:4.1f}s"
    return f"ETA {int(seconds // 60)}m{int(seconds % 60):02d}s"


def connect():
    db = sqlite3.connect(DB_PATH, isolation_level=None)
    db.enable_load_extension(True)
    db.load_extension(EXTENSION)
    db.enable_load_extension(False)
    return db


def status_row(db, name):
    cur = db.execute("SELECT * FROM bgupdate_status WHERE update_name = ?", (name,))
    row = cur.fetchone()
    return dict(zip([d[0] for d in cur.description], row)) if row else None


def main():
    if not os.path.exists(EXTENSION):
        sys.exit(f"{EXTENSION} is missing: run 'make sqlite' first")
    os.makedirs(DEMO_DIR, exist_ok=True)
    for suffix in ("", "-wal", "-shm"):
        if os.path.exists(DB_PATH + suffix):
            os.remove(DB_PATH + suffix)

    say("bgupdate demo: a background migration inside SQLite")
    say(f"database: {os.path.relpath(DB_PATH, ROOT)} (SQLite {sqlite3.sqlite_version}, WAL)")

    db = connect()
    db.execute("PRAGMA journal_mode=WAL")

    heading(1, f"The application's table: t(id INTEGER PRIMARY KEY, old_column INT, payload TEXT), {ROWS:,} rows")
    t0 = time.perf_counter()
    db.execute("CREATE TABLE t(id INTEGER PRIMARY KEY, old_column INT, payload TEXT)")
    db.execute("BEGIN")
    db.execute("WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?)"
               " INSERT INTO t SELECT i, abs(random()) % 100000, 'payload ' || i FROM n", (ROWS,))
    db.execute("COMMIT")
    say(f"    created in {time.perf_counter() - t0:.2f}s")

    heading(2, "Release N: add a nullable column and queue its back-fill")
    sql = [
        "ALTER TABLE t ADD COLUMN new_column INT",
        "SELECT bgupdate_register_batched_update('populate_new_column', 't', '[\"id\"]',\n"
        "           'new_column = old_column * 100', 'new_column IS NULL')",
        "SELECT bgupdate_enqueue('populate_new_column', 7706)",
        f"SELECT bgupdate_config('sleep_duration_ms', '{SLEEP_MS}')",
    ]
    for s in sql:
        say("    sqlite> " + s + ";")
        db.execute(s)
    say("    (defaults otherwise: 100 ms target per batch, first batch 100 rows, Synapse's batch-size controller)")

    heading(3, "The application runs SELECT bgupdate_step() from its own loop, and keeps writing meanwhile")
    rng = random.Random(7706)
    app_writes = 0
    started = time.perf_counter()
    settings_sleep = SLEEP_MS / 1000.0
    while True:
        out = json.loads(db.execute("SELECT bgupdate_step()").fetchone()[0])
        st = status_row(db, "populate_new_column")
        if out["update_name"]:
            rate = (st["total_items_per_ms"] or 0) * 1000
            # After the first (default-sized) batch the controller has not sized one yet.
            eta = st["eta_seconds"] if st["batches"] >= 2 else None
            say(f"    [{bar(st['percent'] or 0)}] {st['percent'] or 0:5.1f}%  "
                f"{st['items_done']:>9,} / {st['total_estimate'] or 0:,} rows  "
                f"{fmt_rate(rate):>14}  {fmt_eta(eta)}   "
                f"batch {out['batch_size']:>7,} rows in {out['duration_ms']:5.1f} ms")
        if out["all_done"]:
            break
        # Meanwhile the application (new code) writes both columns.
        for _ in range(5):
            rid = rng.randrange(1, ROWS + 1)
            v = rng.randrange(100000)
            db.execute("UPDATE t SET old_column = ?, new_column = ? WHERE id = ?", (v, v * 100, rid))
            app_writes += 1
        time.sleep(settings_sleep)
    elapsed = time.perf_counter() - started
    say(f"    done in {elapsed:.2f}s ({st['batches']} batches); the application made {app_writes} writes meanwhile")
    say("    (rows the application had already written are skipped by the filter 'new_column IS NULL')")

    heading(4, "Release N+1: make sure it finished, then add NOT NULL (SQLite: rebuild the table now)")
    for s in ["SELECT bgupdate_finish('populate_new_column')",
              "SELECT bgupdate_add_constraint_and_enqueue(7707, 'new_column_not_null', 't',\n"
              "           't_new_column_not_null', '{\"not_null\": \"new_column\"}', 't2',\n"
              "           'CREATE TABLE t2(id INTEGER PRIMARY KEY, old_column INT, payload TEXT, new_column INT,\n"
              "            CONSTRAINT t_new_column_not_null CHECK (new_column IS NOT NULL))')"]:
        say("    sqlite> " + s + ";")
        t0 = time.perf_counter()
        db.execute(s)
        say(f"    ({time.perf_counter() - t0:.2f}s)")
    while not json.loads(db.execute("SELECT bgupdate_step()").fetchone()[0])["all_done"]:
        pass

    heading(5, "bgupdate_status")
    cur = db.execute("SELECT update_name, state, batches, items_done, round(percent, 1),"
                     " round(total_items_per_ms * 1000) FROM bgupdate_status")
    say(f"    {'update_name':<24} {'state':<9} {'batches':>7} {'items':>10} {'percent':>8} {'throughput':>14}")
    for name, state, batches, items, pct, rate in cur:
        say(f"    {name:<24} {state:<9} {batches:>7} {items:>10,} {pct if pct is not None else '-':>8} "
            f"{fmt_rate(rate) if rate is not None else '-':>14}")

    heading(6, "Verify")
    total = db.execute("SELECT count(*) FROM t").fetchone()[0]
    good = db.execute("SELECT count(*) FROM t WHERE new_column = old_column * 100").fetchone()[0]
    try:
        db.execute("INSERT INTO t(id, old_column, payload) VALUES (?, 1, 'no new_column')", (ROWS + 1,))
        not_null = False
    except sqlite3.IntegrityError:
        not_null = True
    all_done = db.execute("SELECT bgupdate_has_completed_all()").fetchone()[0] == 1
    db.close()
    if total != ROWS or good != ROWS or not not_null or not all_done:
        say(f"    FAILED: {total} rows, {good} with new_column = old_column * 100, "
            f"NOT NULL enforced: {not_null}, queue empty: {all_done}")
        sys.exit(1)
    say("    NOT NULL is enforced: inserting a row without new_column fails")
    say(f"    verified: {total} rows, new_column = old_column * 100")


if __name__ == "__main__":
    main()
