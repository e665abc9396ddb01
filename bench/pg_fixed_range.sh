#!/usr/bin/env bash
# A backfill under a steady insert rate faster than its batches, on
# PostgreSQL with the background worker, two ways in one run on one
# throwaway server, each on a fresh table of ROWS rows (default 200,000):
#   1. fixed_range => true: the update should end after the rows there when
#      it started, while the writer keeps inserting;
#   2. the default (the scan follows new rows): given the same time and
#      more, it has not ended while the writer runs; it ends once the writer
#      stops.
# The worker is paced (batches of at most BATCH rows, default 1,000, and a
# 100 ms sleep after each: at most 10,000 rows/s); the writer commits
# WRITE_ROWS rows (default 2,000) every 100 ms on its own connection:
# 20,000 rows/s, twice what the update can cover. Prints rows at enqueue,
# rows inserted meanwhile, batches, times and the ratio of the update's
# rows/s to the writer's. Needs the extension installed for PGBIN
# (make install, or scripts/private_pg.sh); as root the server runs as postgres.
# Usage: bench/pg_fixed_range.sh [rows]
set -euo pipefail
ROWS=${1:-${ROWS:-200000}}
BATCH=${BATCH:-1000}
WRITE_ROWS=${WRITE_ROWS:-2000}
source "$(dirname "$0")/lib/pg_server.sh"
bench_init_server bgupdate_fixed_range "bgupdate.sleep_enabled = on" "bgupdate.sleep_duration_ms = 100" \
  "bgupdate.max_batch_size = $BATCH" "bgupdate.default_batch_size = $BATCH" "bgupdate.naptime_ms = 200"
cleanup() {
  stop_server
  if [ -z "${BENCH_KEEP:-}" ]; then rm -rf "$dir"; else echo "kept $dir"; fi
}
trap cleanup EXIT
cd "$dir"
as_pg "$pgbin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w start >/dev/null || { tail -n 50 "$dir/server.log"; exit 1; }
as_pg "$pgbin/psql" -XAtq -h "$dir" -p "$port" -d postgres -c 'CREATE DATABASE bench'
psql_ -c 'CREATE EXTENSION bgupdate'

as_pg env DSN="host=$dir port=$port dbname=bench" ROWS="$ROWS" WRITE_ROWS="$WRITE_ROWS" /usr/bin/python3 - <<'PY'
import os, threading, time
import psycopg2

DSN, ROWS, WRITE_ROWS = os.environ["DSN"], int(os.environ["ROWS"]), int(os.environ["WRITE_ROWS"])

def connect():
    c = psycopg2.connect(DSN)
    c.autocommit = True
    return c

db = connect()
def one(sql, *args):
    cur = db.cursor()
    cur.execute(sql, args)
    return cur.fetchone()[0] if cur.description else None

class Writer(threading.Thread):
    """Commits WRITE_ROWS new rows every 100 ms until stopped."""
    def __init__(self, start_id):
        super().__init__(daemon=True)
        self.next, self.stop, self.inserted = start_id, threading.Event(), 0
    def run(self):
        c = connect()
        cur = c.cursor()
        while not self.stop.is_set():
            t = time.monotonic()
            cur.execute("INSERT INTO t (id) SELECT g FROM generate_series(%s, %s) g",
                        (self.next, self.next + WRITE_ROWS - 1))
            self.next += WRITE_ROWS
            self.inserted += WRITE_ROWS
            self.stop.wait(max(0.0, 0.1 - (time.monotonic() - t)))
        c.close()

def fresh_table():
    one("DROP TABLE IF EXISTS t")
    one("CREATE TABLE t (id bigint PRIMARY KEY, b int NOT NULL DEFAULT 0)")
    one("INSERT INTO t (id) SELECT g FROM generate_series(1, %s) g", ROWS)
    one("VACUUM ANALYZE t")
    for tab in ("background_updates", "update_state", "update_history", "update_registry"):
        one(f"DELETE FROM bgupdate.{tab}")

def status():
    cur = db.cursor()
    cur.execute("SELECT state, batches, items_done, total_estimate, percent FROM bgupdate.status")
    return cur.fetchone()

def run(name, fixed, limit_s):
    fresh_table()
    one("SELECT bgupdate.register_batched_update('bump', 't', ARRAY['id'], 'b = b + 1', fixed_range => %s)", fixed)
    writer = Writer(ROWS + 1)
    writer.start()
    t0 = time.monotonic()
    one("SELECT bgupdate.enqueue('bump')")
    while time.monotonic() - t0 < limit_s and not one("SELECT bgupdate.has_completed('bump')"):
        time.sleep(0.1)
    elapsed = time.monotonic() - t0
    ended = one("SELECT bgupdate.has_completed('bump')")
    writer.stop.set()
    writer.join()
    st = status()
    print(f"{name}: rows at enqueue {ROWS}, inserted meanwhile {writer.inserted} "
          f"({writer.inserted / elapsed:.0f} rows/s); {'ended' if ended else 'NOT ended'} after {elapsed:.1f} s, "
          f"{st[1]} batches, {st[2]} rows done ({st[2] / elapsed:.0f} rows/s), total estimate {st[3]}, "
          f"percent {st[4]}")
    result = dict(ended=ended, elapsed=elapsed, inserted=writer.inserted, batches=st[1], items=st[2])
    if not ended:
        t1 = time.monotonic()
        while not one("SELECT bgupdate.has_completed('bump')"):
            time.sleep(0.1)
        result["after_writer_stopped"] = time.monotonic() - t1
        print(f"{name}: writer stopped; ended {result['after_writer_stopped']:.1f} s later, "
              f"{status()[2]} rows done")
    wrong = one("SELECT count(*) FROM t WHERE b <> 1 AND id <= %s", ROWS)
    later = one("SELECT count(*) FILTER (WHERE b = 1) FROM t WHERE id > %s", ROWS)
    print(f"{name}: rows of the start not changed exactly once: {wrong}; later rows changed: {later}")
    if wrong:
        raise SystemExit(f"{name}: {wrong} rows wrong")
    return result

fixed = run("fixed_range", True, 600)
follow = run("follows new rows", False, max(3 * fixed["elapsed"], 10))
print(f"ratio: the writer inserted {fixed['inserted'] / max(fixed['items'], 1):.2f}x the rows the fixed-range update "
      f"covered in the same time; the update following new rows had not ended after "
      f"{follow['elapsed'] / fixed['elapsed']:.1f}x the fixed-range update's time")
if not fixed["ended"] or follow["ended"]:
    raise SystemExit("unexpected: the fixed range must end and the default must not, under this load")
PY
