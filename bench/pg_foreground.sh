#!/usr/bin/env bash
# Foreground impact of a backfill on PostgreSQL: pgbench runs CLIENTS
# clients at RATE transactions/s (0: as fast as it can), half TPC-B and half
# single-row updates of random rows OF THE TABLE BEING BACKFILLED, while ROWS
# (default 2,000,000) rows get new = old * 100, five ways in one run, each on
# a fresh copy of the table:
#   idle            no backfill (the baseline for latency)
#   synapse pacing  the worker with Synapse's sleep (100 ms batches, 1 s sleep)
#   health pacing   the worker with bgupdate.health_pacing = on
#   sleep off       the worker back to back, no checks slowing it
#   single UPDATE   one UPDATE of the whole table
# For each: pgbench TPS, latency p50/p99/max of the transactions started during the backfill
# (its first WINDOW seconds when it takes longer: Synapse pacing does), and
# the backfill's throughput. Ratios: foreground p99 vs idle, throughput vs
# sleep off. Targets (issue 6): health pacing throughput >= 0.9x sleep off,
# its foreground p99 <= 1.5x idle.
# Needs the extension installed (make install, or PGBIN=... a private copy).
# Usage: bench/pg_foreground.sh   (ROWS, CLIENTS, RATE, WINDOW env)
set -euo pipefail
ROWS=${ROWS:-2000000}
CLIENTS=${CLIENTS:-4}
RATE=${RATE:-200}
WINDOW=${WINDOW:-60}
source "$(dirname "$0")/lib/pg_server.sh"
bench_init_server bgupdate_fg "autovacuum = off" "bgupdate.naptime_ms = 60000"
cleanup() {
  [ -z "${pgb_pid:-}" ] || kill "$pgb_pid" 2>/dev/null || true
  stop_server
  if [ -z "${BENCH_KEEP:-}" ]; then rm -rf "$dir"; else echo "kept $dir"; fi
}
trap cleanup EXIT
cd "$dir"

as_pg "$pgbin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w start >/dev/null || { tail -n 50 "$dir/server.log"; exit 1; }

as_pg "$pgbin/psql" -XAtq -h "$dir" -p "$port" -d postgres -c 'CREATE DATABASE bench'
as_pg "$pgbin/pgbench" -i -q -s 10 -h "$dir" -p "$port" bench >"$dir/pgbench_init.log" 2>&1 || { cat "$dir/pgbench_init.log"; exit 1; }
psql_ <<SQL
CREATE EXTENSION bgupdate;
CREATE UNLOGGED TABLE src AS
  SELECT g::bigint AS id, (g % 1000000)::int AS old, NULL::int AS new, md5(g::text) AS payload
  FROM generate_series(1, $ROWS) g;
SQL
cat >"$dir/touch_row.sql" <<SQL
\set id random(1, $ROWS)
UPDATE t SET payload = md5(payload) WHERE id = :id;
SQL
chmod 644 "$dir/touch_row.sql"
echo "pg_foreground: $ROWS rows backfilled under pgbench ($CLIENTS clients, rate ${RATE}/s, half TPC-B, half"
echo "  updates of random rows of the backfilled table), PostgreSQL $(psql_ -c 'SHOW server_version')"

fresh_table() {
  psql_ <<'SQL'
DROP TABLE IF EXISTS t;
DELETE FROM bgupdate.background_updates;
CREATE TABLE t (id bigint PRIMARY KEY, old int, new int, payload text);
INSERT INTO t SELECT * FROM src;
VACUUM ANALYZE t;
VACUUM ANALYZE pgbench_accounts, pgbench_branches, pgbench_tellers;
CHECKPOINT;
SQL
}

# Worker pacing for the next run (ALTER SYSTEM + reload: the worker rereads it).
pacing() {  # sleep_enabled health_pacing blocked-sessions-check
  psql_ -c "ALTER SYSTEM SET bgupdate.sleep_enabled = $1" -c "ALTER SYSTEM SET bgupdate.health_pacing = $2" \
        -c "ALTER SYSTEM SET bgupdate.health_hold_on_blocked_sessions = $3" -c 'SELECT pg_reload_conf()' >/dev/null
}

declare -A result
order=()
fail=0
run() {  # name kind(idle|worker|update)
  local name=$1 kind=$2 t0 t1 done_rows pgb_t rate_args=()
  fresh_table
  [ "$RATE" = 0 ] || rate_args=(-R "$RATE")
  pgb_t=$((WINDOW + 10))
  rm -f "$dir"/pgbench_log*
  (cd "$dir" && as_pg "$pgbin/pgbench" -n -h "$dir" -p "$port" -c "$CLIENTS" -j 2 -T "$pgb_t" "${rate_args[@]}" \
     -b tpcb-like@1 -f "$dir/touch_row.sql@1" -l --log-prefix="$dir/pgbench_log" bench >"$dir/pgbench.out" 2>&1) &
  pgb_pid=$!
  sleep 3  # warm up
  t0=$(now)
  local u="fill_${name// /_}"
  case $kind in
    idle) sleep "$WINDOW"; done_rows=0 ;;
    update) psql_ -c 'UPDATE t SET new = old * 100' >/dev/null; done_rows=$ROWS ;;
    worker)
      psql_ -c "SELECT bgupdate.register_batched_update('$u', 't', ARRAY['id'], 'new = old * 100', 'new IS NULL')" \
            -c "SELECT bgupdate.enqueue('$u')" >/dev/null
      while :; do
        [ "$(psql_ -c "SELECT bgupdate.has_completed('$u')")" = t ] && break
        [ "$(calc "$(now) - $t0 >= $WINDOW")" = 1 ] && break
        sleep 0.05
      done ;;
  esac
  t1=$(now)
  if [ "$kind" = worker ]; then
    done_rows=$(psql_ -c "SELECT count(*) FROM t WHERE new IS NOT NULL")
    psql_ -c "SELECT bgupdate.pause('$u')" >/dev/null 2>&1 || true  # stop an unfinished one
  fi
  wait "$pgb_pid" || { echo "$name: pgbench failed"; cat "$dir/pgbench.out"; fail=1; }
  pgb_pid=
  local bad
  bad=$(psql_ -c 'SELECT count(*) FROM t WHERE new IS NOT NULL AND new <> old * 100')
  [ "$bad" = 0 ] || { echo "$name: $bad rows wrong"; fail=1; }
  # Per-transaction log: client tx_no latency_us script epoch_s epoch_us [lag] (the end
  # time); keep transactions that started in the window (a wait behind the backfill counts).
  local stats
  stats=$(cat "$dir"/pgbench_log* | awk -v a="$t0" -v b="$t1" '
    { t = $5 + $6 / 1e6 - $3 / 1e6; if (t >= a && t <= b) print $3 / 1000 }' | sort -g | awk -v secs="$(calc "$t1 - $t0")" '
    { v[NR] = $1 }
    END {
      if (NR == 0) { print "0 0 0 0"; exit }
      p50 = v[int(NR * 0.50) > 0 ? int(NR * 0.50) : 1]; p99 = v[int(NR * 0.99) > 0 ? int(NR * 0.99) : 1]
      printf "%.1f %.2f %.2f %.2f\n", NR / secs, p50, p99, v[NR] }')
  result[$name]="$stats $(calc "$t1 - $t0") $done_rows"
  order+=("$name")
  printf '  %-16s done: %s rows in %.1f s\n' "$name" "$done_rows" "$(calc "$t1 - $t0")"
}

run idle idle
pacing on off on;   run "synapse pacing" worker
pacing on on on;    run "health pacing" worker
# Sleep off as before this mode: back to back, not backing off for blocked sessions.
pacing off off off; run "sleep off" worker
run "single UPDATE" update

read -r _ _ idle_p99 _ _ _ <<<"${result[idle]}"
read -r _ _ _ _ so_secs so_rows <<<"${result[sleep off]}"
so_rate=$(calc "$so_rows / $so_secs")
echo
printf '%-16s %8s %9s %9s %9s %8s %10s %12s %9s\n' run TPS p50_ms p99_ms max_ms p99/idle backfill_s rows/s "vs off"
for name in "${order[@]}"; do
  read -r tps p50 p99 mx secs rows <<<"${result[$name]}"
  thr=-; vs=-
  if [ "$rows" != 0 ]; then thr=$(printf '%.0f' "$(calc "$rows / $secs")"); vs=$(printf '%.2fx' "$(calc "$rows / $secs / $so_rate")"); fi
  printf '%-16s %8s %9s %9s %9s %8s %10.1f %12s %9s\n' "$name" "$tps" "$p50" "$p99" "$mx" \
    "$(printf '%.2fx' "$(calc "$p99 / ($idle_p99 > 0 ? $idle_p99 : 1)")")" "$secs" "$thr" "$vs"
done
read -r _ _ hp_p99 _ hp_secs hp_rows <<<"${result[health pacing]}"
r=$(calc "$hp_rows / $hp_secs / $so_rate"); q=$(calc "$hp_p99 / ($idle_p99 > 0 ? $idle_p99 : 1)")
printf 'health pacing: throughput %.2fx sleep off (target >= 0.90: %s), foreground p99 %.2fx idle (target <= 1.5: %s)\n' \
  "$r" "$([ "$(calc "$r >= 0.9")" = 1 ] && echo met || echo NOT met)" \
  "$q" "$([ "$(calc "$q <= 1.5")" = 1 ] && echo met || echo NOT met)"
exit $fail
