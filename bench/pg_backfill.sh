#!/usr/bin/env bash
# PostgreSQL backfill benchmark: new = old * 100 over ROWS rows (default
# 2,000,000) of (id bigint pk, old int, new int, payload text), four ways,
# in one run on one throwaway server, each on a fresh copy of the table:
#   1. one UPDATE (the baseline: fastest, but one huge transaction)
#   2. a PL/pgSQL procedure looping keyset batches of 10,000 rows with COMMIT
#   3. CALL bgupdate.run() (sleep disabled)
#   4. the background worker (sleep disabled), from enqueue to completion
# and each one's throughput relative to the single UPDATE (target for the
# worker: >= 0.9). ROUNDS (default 3) repeats the four in turn; the table
# shows each method's median (this machine is shared and noisy). Needs `make install`; as root the server runs as postgres.
# Exits non-zero if a method fails or leaves a wrong row; cleans up always.
# Usage: bench/pg_backfill.sh [rows]   (or ROWS=... / BENCH_ROWS=...)
set -euo pipefail
ROWS=${1:-${ROWS:-${BENCH_ROWS:-2000000}}}
ROUNDS=${ROUNDS:-3}
source "$(dirname "$0")/lib/pg_server.sh"
# naptime 60 s: the worker must be woken by the enqueueing commit, not a poll.
bench_init_server bgupdate_bench "bgupdate.sleep_enabled = off" "bgupdate.naptime_ms = 60000"
cleanup() {
  stop_server
  if [ -z "${BENCH_KEEP:-}" ]; then rm -rf "$dir"; else echo "kept $dir"; fi
}
trap cleanup EXIT
cd "$dir"

# Each method gets a restarted server (same cold shared_buffers for all).
# The worker must not take the other methods' work: it is on only for its run.
start_server() {
  as_pg "$pgbin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w \
    -o "-c bgupdate.worker_enabled=$1" start >/dev/null \
    || { tail -n 50 "$dir/server.log"; exit 1; }
}

start_server off
as_pg "$pgbin/psql" -XAtq -h "$dir" -p "$port" -d postgres -c 'CREATE DATABASE bench'
psql_ <<SQL
CREATE EXTENSION bgupdate;
CREATE UNLOGGED TABLE src AS
  SELECT g::bigint AS id, (g % 1000000)::int AS old, NULL::int AS new, md5(g::text) AS payload
  FROM generate_series(1, $ROWS) g;
CREATE PROCEDURE keyset_backfill(batch int) LANGUAGE plpgsql AS \$\$
DECLARE lo bigint := 0; hi bigint;
BEGIN
  LOOP
    SELECT max(id) INTO hi FROM (SELECT id FROM t WHERE id > lo ORDER BY id LIMIT batch) s;
    EXIT WHEN hi IS NULL;
    UPDATE t SET new = old * 100 WHERE id > lo AND id <= hi;
    lo := hi;
    COMMIT;
  END LOOP;
END \$\$;
-- Waits in one session (each statement sees new commits), 20 ms a poll.
CREATE PROCEDURE wait_done(name text) LANGUAGE plpgsql AS \$\$
BEGIN
  WHILE NOT bgupdate.has_completed(name) LOOP
    IF EXISTS (SELECT 1 FROM bgupdate.update_state s WHERE s.update_name = name AND failed) THEN
      RAISE 'update % failed: %', name,
        (SELECT last_error FROM bgupdate.update_state s WHERE s.update_name = name);
    END IF;
    IF clock_timestamp() - statement_timestamp() > interval '30 min' THEN RAISE 'timed out'; END IF;
    COMMIT;
    PERFORM pg_sleep(0.02);
  END LOOP;
END \$\$;
SQL
echo "pg_backfill: $ROWS rows, new = old * 100, PostgreSQL $(psql_ -c 'SHOW server_version')"

# A fresh table t (logged, with its primary key), vacuumed, checkpointed.
fresh_table() {
  psql_ <<'SQL'
DROP TABLE IF EXISTS t;
DELETE FROM bgupdate.background_updates;
CREATE TABLE t (id bigint PRIMARY KEY, old int, new int, payload text);
INSERT INTO t SELECT * FROM src;
VACUUM ANALYZE t;
CHECKPOINT;
SQL
}

declare -A secs note
order=()
fail=0
bench() {  # name worker(on|off) update-name|- psql-args...
  local name=$1 worker=$2 upd=$3; shift 3
  stop_server; start_server "$worker"
  fresh_table
  local t0 t1 bad
  t0=$(now)
  if ! psql_ "$@" >/dev/null; then echo "$name: FAILED"; fail=1; return; fi
  t1=$(now)
  bad=$(psql_ -c 'SELECT count(*) FROM t WHERE new IS DISTINCT FROM old * 100')
  [ "$bad" = 0 ] || { echo "$name: $bad rows wrong"; fail=1; }
  secs[$name]="${secs[$name]:-} $(calc "$t1 - $t0")"
  [ "$upd" = - ] || note[$name]=$(psql_ -c "SELECT batches || ' batches, last ' || batch_size || ' rows'
                                            FROM bgupdate.status WHERE update_name = '$upd'")
  [ "$round" -gt 1 ] || order+=("$name")
  printf '  round %d  %-28s %8.2f s\n' "$round" "$name" "$(calc "$t1 - $t0")"
}

# A new update name each time: its status is its own.
register() { echo "SELECT bgupdate.register_batched_update('$1', 't', ARRAY['id'], 'new = old * 100', 'new IS NULL')"; }
for round in $(seq 1 "$ROUNDS"); do
  bench "single UPDATE" off - -c 'UPDATE t SET new = old * 100'
  bench "plpgsql keyset 10k + COMMIT" off - -c 'CALL keyset_backfill(10000)'
  u=run_$round
  bench "CALL bgupdate.run()" off $u -c "$(register $u)" -c "SELECT bgupdate.enqueue('$u')" \
    -c 'CALL bgupdate.run()'
  # Worker: the clock starts before the enqueueing commit that wakes it.
  u=worker_$round
  bench "background worker" on $u -c "$(register $u)" -c "SELECT bgupdate.enqueue('$u')" \
    -c "CALL wait_done('$u')"
done
median() { tr ' ' '\n' | grep . | sort -g | awk '{ v[NR] = $1 } END { print (NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2) }'; }
for name in "${order[@]}"; do secs[$name]=$(median <<<"${secs[$name]}"); done

base=${secs["single UPDATE"]:-}
echo
printf '%-28s %9s %12s %9s  %s\n' "method (median of $ROUNDS)" seconds rows/s "vs UPDATE" ""
for name in "${order[@]}"; do
  s=${secs[$name]}
  ratio=-; [ -n "$base" ] && ratio=$(printf '%.2fx' "$(calc "$base / $s")")
  printf '%-28s %9.2f %12.0f %9s  %s\n' "$name" "$s" "$(calc "$ROWS / $s")" "$ratio" "${note[$name]:-}"
done
w=${secs["background worker"]:-}
if [ -n "$base" ] && [ -n "$w" ]; then
  r=$(calc "$base / $w")
  printf 'worker throughput vs single UPDATE: %.2fx (target >= 0.90: %s)\n' "$r" \
    "$([ "$(calc "$r >= 0.9")" = 1 ] && echo met || echo NOT met)"
fi
exit $fail
