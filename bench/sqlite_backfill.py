#!/usr/bin/python3
"""SQLite back-fill benchmark: new = old * 100 over 1,000,000 rows (WAL).

Times, in one run and each on a fresh copy of the same table:
  1. one UPDATE statement (the baseline: fastest, but one long write lock),
  2. an application loop of keyset batches of 10,000 rows (BEGIN IMMEDIATE/COMMIT),
  3. a loop of SELECT bgupdate_step() with sleep disabled and the default
     target duration (100 ms per batch),
and prints throughput relative to the single UPDATE. Each method runs
ROUNDS times (interleaved); medians are reported, and the headline ratio is
the median of per-round ratios (the machine is noisy).

Usage: /usr/bin/python3 bench/sqlite_backfill.py [rows] [rounds]
"""
import json
import os
import shutil
import sqlite3
import statistics
import sys
import tempfile
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
EXTENSION = os.path.join(ROOT, "sqlite_extension", "bgupdate.so")
ROWS = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
ROUNDS = int(sys.argv[2]) if len(sys.argv) > 2 else 5
APP_BATCH = 10_000


def connect(path, load=False):
    db = sqlite3.connect(path, isolation_level=None)
    if load:
        db.enable_load_extension(True)
        db.load_extension(EXTENSION)
        db.enable_load_extension(False)
    return db


def make_base(path):
    db = connect(path)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("CREATE TABLE t(id INTEGER PRIMARY KEY, old INT, new INT, payload TEXT)")
    db.execute("BEGIN")
    db.execute(
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?)"
        " INSERT INTO t(id, old, new, payload) SELECT i, i % 1000, NULL, printf('payload %08d', i) FROM n",
        (ROWS,))
    db.execute("COMMIT")
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db.close()


def fresh_copy(base, work):
    for suffix in ("", "-wal", "-shm"):
        if os.path.exists(work + suffix):
            os.remove(work + suffix)
    shutil.copyfile(base, work)
    # Warm the page cache the same way for every method.
    with open(work, "rb") as f:
        while f.read(1 << 20):
            pass


def single_update(path):
    db = connect(path)
    db.execute("PRAGMA journal_mode=WAL")
    t0 = time.perf_counter()
    db.execute("UPDATE t SET new = old * 100")
    elapsed = time.perf_counter() - t0
    db.close()
    return elapsed, 1


def app_keyset_loop(path):
    db = connect(path)
    db.execute("PRAGMA journal_mode=WAL")
    t0 = time.perf_counter()
    lower, batches = 0, 0
    while True:
        db.execute("BEGIN IMMEDIATE")
        upper = db.execute("SELECT max(id) FROM (SELECT id FROM t WHERE id > ? ORDER BY id LIMIT ?)",
                           (lower, APP_BATCH)).fetchone()[0]
        if upper is None:
            db.execute("COMMIT")
            break
        db.execute("UPDATE t SET new = old * 100 WHERE id > ? AND id <= ?", (lower, upper))
        db.execute("COMMIT")
        lower, batches = upper, batches + 1
    elapsed = time.perf_counter() - t0
    db.close()
    return elapsed, batches


def bgupdate_steps(path):
    db = connect(path, load=True)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("SELECT bgupdate_config('sleep_enabled', 'false')")  # defaults otherwise (100 ms target)
    t0 = time.perf_counter()
    db.execute("SELECT bgupdate_register_batched_update('backfill', 't', '[\"id\"]', 'new = old * 100')")
    db.execute("SELECT bgupdate_enqueue('backfill')")
    steps = 0
    while True:
        out = json.loads(db.execute("SELECT bgupdate_step()").fetchone()[0])
        steps += 1
        if out["all_done"]:
            break
    elapsed = time.perf_counter() - t0
    db.close()
    return elapsed, steps


def bgupdate_profile(path):
    """One more bgupdate run with a trace callback: where its time goes, by
    statement kind (each statement's time runs until the next one starts)."""
    db = connect(path, load=True)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("SELECT bgupdate_config('sleep_enabled', 'false')")
    db.execute("SELECT bgupdate_register_batched_update('backfill', 't', '[\"id\"]', 'new = old * 100')")
    db.execute("SELECT bgupdate_enqueue('backfill')")
    events = []
    db.set_trace_callback(lambda sql: events.append((time.perf_counter(), sql)))
    t0 = time.perf_counter()
    while True:
        out = json.loads(db.execute("SELECT bgupdate_step()").fetchone()[0])
        events.append((time.perf_counter(), None))
        if out["all_done"]:
            break
    total = time.perf_counter() - t0
    db.set_trace_callback(None)
    db.close()
    kinds = {}
    for (start, sql), (end, _next) in zip(events, events[1:]):
        if sql is None:
            continue
        s = sql.lstrip("- ").upper()
        if s.startswith("SELECT BGUPDATE_STEP"):
            kind = "bgupdate's own statements"  # time until the first nested statement
        elif s.startswith("SELECT COUNT(*)"):
            kind = "row estimate (count)"
        elif s.startswith("UPDATE \"T\""):
            kind = "the batches' UPDATEs"
        elif " OFFSET " in s:
            kind = "keyset probes (upper bound)"
        elif s.startswith("COMMIT"):
            kind = "COMMIT (incl. WAL checkpoints)"
        else:
            kind = "bgupdate's own statements"
        kinds[kind] = kinds.get(kind, 0.0) + (end - start)
    return total, kinds


def verify(path):
    db = connect(path)
    bad = db.execute("SELECT count(*) FROM t WHERE new IS NOT old * 100").fetchone()[0]
    db.close()
    if bad:
        raise SystemExit(f"benchmark result wrong: {bad} rows not back-filled")


def main():
    if not os.path.exists(EXTENSION):
        raise SystemExit(f"{EXTENSION} is missing: run 'make sqlite' first")
    tmp = tempfile.mkdtemp(prefix="bgupdate-bench-")
    try:
        base = os.path.join(tmp, "base.db")
        work = os.path.join(tmp, "work.db")
        print(f"SQLite {sqlite3.sqlite_version}, {ROWS:,} rows, WAL, new = old * 100, median of {ROUNDS} rounds")
        t0 = time.perf_counter()
        make_base(base)
        print(f"  (built the table in {time.perf_counter() - t0:.2f} s)")
        methods = [
            ("single UPDATE", single_update, "statement"),
            (f"app keyset loop, {APP_BATCH:,} rows/batch", app_keyset_loop, "batches"),
            ("bgupdate_step() loop, 100 ms target, no sleep", bgupdate_steps, "steps"),
        ]
        times = {name: [] for name, _, _ in methods}
        counts = {}
        for _ in range(ROUNDS):
            for name, fn, _unit in methods:
                fresh_copy(base, work)
                elapsed, n = fn(work)
                verify(work)
                times[name].append(elapsed)
                counts[name] = n
        baseline = statistics.median(times[methods[0][0]])
        print()
        print(f"  {'method':<48} {'time':>8} {'rows/s':>12} {'vs UPDATE':>10}")
        ratios = {}
        for name, _fn, unit in methods:
            med = statistics.median(times[name])
            ratios[name] = baseline / med
            detail = f"{counts[name]} {unit}"
            print(f"  {name:<48} {med:7.3f}s {ROWS / med:12,.0f} {ratios[name]:9.2f}x   ({detail}; "
                  f"runs: {', '.join(f'{t:.3f}' for t in times[name])})")
        # Each round runs the methods back to back, so a per-round ratio is less
        # exposed to the machine's load drifting between rounds.
        per_round = [u / b for u, b in zip(times[methods[0][0]], times[methods[2][0]])]
        r = statistics.median(per_round)
        print()
        print(f"per-round ratios bgupdate/UPDATE: {', '.join(f'{x:.2f}' for x in per_round)}")
        print(f"bgupdate throughput ratio vs single UPDATE: {r:.2f}x (median of per-round ratios; target >= 0.90x)")
        fresh_copy(base, work)
        total, kinds = bgupdate_profile(work)
        print()
        print(f"where a bgupdate run's time goes ({total:.3f}s, traced; the trace itself adds a little):")
        for kind, secs in sorted(kinds.items(), key=lambda kv: -kv[1]):
            print(f"  {kind:<34} {secs * 1000:7.1f} ms  {100 * secs / total:5.1f}%")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
