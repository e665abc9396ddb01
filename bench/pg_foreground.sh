#!/usr/bin/env bash
# Foreground latency at a fixed rate while a backfill runs, on PostgreSQL.
# pgbench runs CLIENTS clients at RATE transactions/s (a fixed rate, so that
# latency, not throughput, is compared), half TPC-B and half single-row
# updates of random rows OF THE TABLE BEING BACKFILLED, while the worker gives
# ROWS rows new = old * 100. Four modes per round, each on a fresh copy of the
# table after a checkpoint, in a rotated order each round:
#   idle            no backfill (the baseline for latency)
#   synapse pacing  Synapse's sleep (100 ms batches, 1 s sleep)
#   health pacing   bgupdate.health_pacing = on (back to back while green)
#   sleep off       back to back, no health checks at all (the baseline for rows/s)
# For each: pgbench latency p50/p99 of the transactions started in the
# measured window (the backfill's first WINDOW seconds, or all of it), the
# backfill's rows/s, and the WAL the server wrote per second (backfill and
# foreground together: the foreground's commits flush it). Ratios: p50 and p99
# to idle's, rows/s to sleep off's, per round; then the median of each ratio
# over ROUNDS rounds. Target: health pacing p99 <= 1.5x idle while
# back-filling at >= 0.9x the rows/s of sleep off.
# For each worker mode it also prints what the batches did (from
# update_history and pg_stat_user_functions): batch sizes and durations,
# holds by reason, and the cost of the health-check calls per batch.
# Needs the extension installed (make install, or PGBIN=... a private copy).
# Usage: bench/pg_foreground.sh   (ROWS, CLIENTS, RATE, WINDOW, ROUNDS, BENCH_PORT, PGBIN env;
#        MODES="idle,health pacing,sleep off" runs some modes only; idle and sleep off are the baselines;
#        "health no-block" is health pacing without the blocked-sessions reaction, for diagnosis;
#        "sleep 50ms" (any number) sleeps that long after each batch, no checks: MODES="idle,sleep off,sleep 50ms,
#        sleep 200ms" draws the trade-off between the backfill's rows/s and the foreground's latency;
#        HOLD_MS=20 makes each foreground update hold its row lock that long, as an application
#        transaction doing work between statements does)
set -euo pipefail
ROWS=${ROWS:-6000000}
CLIENTS=${CLIENTS:-4}
RATE=${RATE:-300}
WINDOW=${WINDOW:-15}
ROUNDS=${ROUNDS:-3}
source "$(dirname "$0")/lib/pg_server.sh"
bench_init_server bgupdate_fg "autovacuum = off" "bgupdate.naptime_ms = 60000" "track_functions = all" "min_wal_size = 4GB"
cleanup() {
  [ -z "${pgb_pid:-}" ] || kill "$pgb_pid" 2>/dev/null || true
  stop_server
  if [ -z "${BENCH_KEEP:-}" ]; then rm -rf "$dir"; else echo "kept $dir"; fi
}
trap cleanup EXIT
cd "$dir"

as_pg "$pgbin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w start >/dev/null || { tail -n 50 "$dir/server.log"; exit 1; }

# Everything is built once in a template database; each run gets a fresh copy of
# it (CREATE DATABASE ... STRATEGY FILE_COPY: a file copy, not a reload).
pg_postgres() { as_pg "$pgbin/psql" -XAtq -v ON_ERROR_STOP=1 -h "$dir" -p "$port" -d postgres "$@"; }
pg_postgres -c 'CREATE DATABASE bench_template'
as_pg "$pgbin/pgbench" -i -q -s 10 -h "$dir" -p "$port" bench_template >"$dir/pgbench_init.log" 2>&1 || { cat "$dir/pgbench_init.log"; exit 1; }
psql_ -d bench_template <<SQL
CREATE EXTENSION bgupdate;
CREATE TABLE t AS
  SELECT g::bigint AS id, (g % 1000000)::int AS old, NULL::int AS new, md5(g::text) AS payload
  FROM generate_series(1, $ROWS) g;
ALTER TABLE t ADD PRIMARY KEY (id);
VACUUM ANALYZE;
-- What the sessions wait on, sampled every 50 ms (one committed insert per sample).
CREATE UNLOGGED TABLE wait_samples (who text, wait text, n int);
CREATE PROCEDURE sample_waits(secs float8) LANGUAGE plpgsql AS \$\$
DECLARE stop timestamptz := clock_timestamp() + secs * interval '1 s';
BEGIN
  WHILE clock_timestamp() < stop LOOP
    INSERT INTO wait_samples
      SELECT CASE WHEN backend_type = 'bgupdate worker' THEN 'worker' ELSE 'pgbench' END,
             COALESCE(wait_event_type || ':' || wait_event, 'CPU'), count(*)
        FROM pg_stat_activity
       WHERE (application_name = 'pgbench' OR backend_type = 'bgupdate worker') AND state = 'active'
       GROUP BY 1, 2;
    COMMIT;
    PERFORM pg_sleep(0.05);
  END LOOP;
END \$\$;
SQL
# The template takes no connections (so the launcher leaves it alone and it can be copied).
pg_postgres -c 'ALTER DATABASE bench_template WITH ALLOW_CONNECTIONS false' \
            -c "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = 'bench_template'" >/dev/null
until [ "$(pg_postgres -c "SELECT count(*) FROM pg_stat_activity WHERE datname = 'bench_template'")" = 0 ]; do sleep 0.2; done
# A server in steady state writes WAL into files its checkpoints recycled; a new
# one creates and zero-fills a 16 MB file every few hundred ms of back-filling,
# holding the WAL write lock meanwhile, and that lands on whichever mode runs
# first. So one untimed backfill-sized write first, kept for reuse (min_wal_size).
pg_postgres -c 'CREATE DATABASE wal_warmup TEMPLATE bench_template STRATEGY FILE_COPY' >/dev/null
as_pg "$pgbin/psql" -XAtq -v ON_ERROR_STOP=1 -h "$dir" -p "$port" -d wal_warmup -c 'UPDATE t SET new = 0' >/dev/null
pg_postgres -c 'DROP DATABASE wal_warmup WITH (FORCE)' -c 'CHECKPOINT' >/dev/null
if [ "${HOLD_MS:-0}" = 0 ]; then
  printf '%s\n' "\\set id random(1, $ROWS)" 'UPDATE t SET payload = md5(payload) WHERE id = :id;' >"$dir/touch_row.sql"
else
  printf '%s\n' "\\set id random(1, $ROWS)" 'BEGIN;' 'UPDATE t SET payload = md5(payload) WHERE id = :id;' \
    "SELECT pg_sleep($HOLD_MS / 1000.0);" 'COMMIT;' >"$dir/touch_row.sql"
fi
chmod 644 "$dir/touch_row.sql"
echo "pg_foreground: $ROWS rows backfilled under pgbench ($CLIENTS clients, fixed rate ${RATE}/s, half TPC-B, half"
echo "  updates of random rows of the backfilled table), window ${WINDOW} s, $ROUNDS rounds, PostgreSQL $(pg_postgres -c 'SHOW server_version')"

fresh_table() {
  pg_postgres -c 'DROP DATABASE IF EXISTS bench WITH (FORCE)' \
              -c 'CREATE DATABASE bench TEMPLATE bench_template STRATEGY FILE_COPY' -c 'CHECKPOINT' >/dev/null
}

# Worker pacing for the next run (ALTER SYSTEM + reload: the worker rereads it).
pacing() {  # sleep_enabled health_pacing checks(on|off) [sleep_duration_ms]
  local checks=()
  if [ "$3" = off ]; then  # no health check at all: the plain back-to-back loop
    checks=(-c "ALTER SYSTEM SET bgupdate.health_hold_on_blocked_sessions = off" -c "ALTER SYSTEM SET bgupdate.health_hold_on_vacuum = off"
            -c "ALTER SYSTEM SET bgupdate.health_max_replica_lag_ms = 0" -c "ALTER SYSTEM SET bgupdate.health_max_replica_lag_mb = 0"
            -c "ALTER SYSTEM SET bgupdate.health_max_slot_retained_mb = 0" -c "ALTER SYSTEM SET bgupdate.health_max_archive_ready = 0"
            -c "ALTER SYSTEM SET bgupdate.health_max_xmin_age_s = 0" -c "ALTER SYSTEM SET bgupdate.health_max_wal_flush_waiters = 0")
  else
    checks=(-c "ALTER SYSTEM RESET ALL")
  fi
  psql_ "${checks[@]}" -c "ALTER SYSTEM SET bgupdate.sleep_enabled = $1" -c "ALTER SYSTEM SET bgupdate.health_pacing = $2" \
        -c "ALTER SYSTEM $([ -n "${4:-}" ] && echo "SET bgupdate.sleep_duration_ms = $4" || echo "RESET bgupdate.sleep_duration_ms")" \
        -c 'SELECT pg_reload_conf()' >/dev/null
  sleep 0.5
}

declare -A result
run() {  # round name
  local round=$1 name=$2 kind=worker t0 t1 done_rows rate_args=()
  case $name in
    idle) kind=idle ;;
    "synapse pacing") pacing on off on ;;
    "health pacing") pacing on on on ;;
    "health no-block") pacing on on on; psql_ -c "ALTER SYSTEM SET bgupdate.health_hold_on_blocked_sessions = off" \
                         -c 'SELECT pg_reload_conf()' >/dev/null ;;  # diagnostic: without the blocked-sessions reaction
    "sleep off") pacing off off off ;;
    sleep\ *ms) pacing on off off "${name//[^0-9]/}" ;;  # a fixed sleep, no checks: one point of the trade-off
  esac
  fresh_table
  [ "$RATE" = 0 ] || rate_args=(-R "$RATE")
  rm -f "$dir"/pgbench_log*
  (cd "$dir" && as_pg "$pgbin/pgbench" -n -h "$dir" -p "$port" -c "$CLIENTS" -j 2 -T $((WINDOW + 10)) "${rate_args[@]}" \
     -b tpcb-like@1 -f "$dir/touch_row.sql@1" -l --log-prefix="$dir/pgbench_log" bench >"$dir/pgbench.out" 2>&1) &
  pgb_pid=$!
  sleep 3  # warm up
  psql_ -c "TRUNCATE wait_samples" -c "CALL sample_waits($WINDOW)" >/dev/null &
  local sampler=$!
  t0=$(now)
  local lsn0 wal_bytes
  lsn0=$(psql_ -c 'SELECT pg_current_wal_lsn()')
  local u="fill_${name// /_}"
  if [ "$kind" = idle ]; then
    sleep "$WINDOW"; done_rows=0
  else
    psql_ -c "SELECT bgupdate.register_batched_update('$u', 't', ARRAY['id'], 'new = old * 100', 'new IS NULL')" \
          -c "SELECT bgupdate.enqueue('$u')" >/dev/null
    while :; do
      [ "$(psql_ -c "SELECT bgupdate.has_completed('$u')")" = t ] && break
      [ "$(calc "$(now) - $t0 >= $WINDOW")" = 1 ] && break
      sleep 0.05
    done
  fi
  t1=$(now)
  wal_bytes=$(psql_ -c "SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), '$lsn0')")
  if [ "$kind" = worker ]; then
    done_rows=$(psql_ -c "SELECT count(*) FROM t WHERE new IS NOT NULL")
    psql_ -c "SELECT bgupdate.pause('$u')" >/dev/null 2>&1 || true  # stop an unfinished one
  fi
  wait "$sampler" || true
  wait "$pgb_pid" || { echo "$name: pgbench failed"; cat "$dir/pgbench.out"; exit 1; }
  pgb_pid=
  local bad
  bad=$(psql_ -c 'SELECT count(*) FROM t WHERE new IS NOT NULL AND new <> old * 100')
  [ "$bad" = 0 ] || { echo "$name: $bad rows wrong"; exit 1; }
  # Per-transaction log: client tx_no latency_us script epoch_s epoch_us (the end
  # time); keep transactions that started in the window (a wait behind the backfill counts).
  local stats
  stats=$(cat "$dir"/pgbench_log* | awk -v a="$t0" -v b="$t1" '
    { t = $5 + $6 / 1e6 - $3 / 1e6; if (t >= a && t <= b) print $3 / 1000 }' | sort -g | awk -v secs="$(calc "$t1 - $t0")" '
    { v[NR] = $1 }
    END {
      if (NR == 0) { print "0 0 0 0"; exit }
      p50 = v[int(NR * 0.50) > 0 ? int(NR * 0.50) : 1]; p99 = v[int(NR * 0.99) > 0 ? int(NR * 0.99) : 1]
      printf "%.1f %.2f %.2f %.2f\n", NR / secs, p50, p99, v[NR] }')
  result[$round,$name]="$stats $(calc "$t1 - $t0") $done_rows"
  printf '  round %d %-15s %8s rows in %5.1f s   p50 %6s ms  p99 %7s ms   WAL %5.1f MB/s\n' "$round" "$name" "$done_rows" \
    "$(calc "$t1 - $t0")" "$(cut -d' ' -f2 <<<"$stats")" "$(cut -d' ' -f3 <<<"$stats")" \
    "$(calc "$wal_bytes / 1048576 / ($t1 - $t0)")"
  if [ "$kind" = worker ]; then profile; else waits; fi
  return 0
}

# What the batches of the last run did.
profile() {
  psql_ <<SQL | sed 's/^/      /'
SELECT format('%s batches: size p10/p50/p90 %s/%s/%s, duration p50/p90 %s/%s ms, busy %s%% of the time',
              count(*),
              percentile_disc(0.1) WITHIN GROUP (ORDER BY (detail::json->>'batch_size')::bigint),
              percentile_disc(0.5) WITHIN GROUP (ORDER BY (detail::json->>'batch_size')::bigint),
              percentile_disc(0.9) WITHIN GROUP (ORDER BY (detail::json->>'batch_size')::bigint),
              round(percentile_cont(0.5) WITHIN GROUP (ORDER BY duration_ms)::numeric, 1),
              round(percentile_cont(0.9) WITHIN GROUP (ORDER BY duration_ms)::numeric, 1),
              round((100 * sum(duration_ms) / NULLIF(extract(epoch FROM max(at::timestamptz) - min(at::timestamptz)) * 1000
                                                      + max(duration_ms), 0))::numeric))
  FROM bgupdate.update_history WHERE event = 'batch';
SELECT format('holds: %s x %s', count(*), why)
  FROM (SELECT left(regexp_replace(detail, '[0-9.]+', 'N', 'g'), 90) AS why
          FROM bgupdate.update_history WHERE event = 'on_hold') h
 GROUP BY why ORDER BY count(*) DESC LIMIT 4;
SELECT 'batch size over time (mean per 3 s): ' || string_agg(size::text, ' ' ORDER BY slot)
  FROM (SELECT slot, round(avg(size)) AS size
          FROM (SELECT floor(extract(epoch FROM at::timestamptz - min(at::timestamptz) OVER ()) / 3) AS slot,
                       (detail::json->>'batch_size')::bigint AS size
                  FROM bgupdate.update_history WHERE event = 'batch') b
         GROUP BY slot) s;
SELECT format('batches smaller than the one before (halved after blocking sessions): %s', count(*))
  FROM (SELECT (detail::json->>'batch_size')::bigint AS size,
               lag((detail::json->>'batch_size')::bigint) OVER (ORDER BY id) AS before
          FROM bgupdate.update_history WHERE event = 'batch') b WHERE size < before * 0.75;
SELECT format('health-check calls: %s (%s per batch), %s ms each on average, %s ms in all',
              f.calls, round(f.calls::numeric / NULLIF((SELECT count(*) FROM bgupdate.update_history WHERE event = 'batch'), 0), 2),
              round((f.total_time / NULLIF(f.calls, 0))::numeric, 3), round(f.total_time::numeric))
  FROM pg_stat_user_functions f WHERE f.funcname = '_health_readings';
SQL
  waits
}

# Where the active sessions spent the window: the share of samples per wait.
waits() {
  psql_ <<'SQL' | sed 's/^/      /'
SELECT format('%s waits: %s', who, string_agg(format('%s %s%%', wait, pct), ', ' ORDER BY pct DESC))
  FROM (SELECT who, wait, round(100.0 * sum(n) / sum(sum(n)) OVER (PARTITION BY who)) AS pct
          FROM wait_samples GROUP BY who, wait) w
 WHERE pct >= 2 GROUP BY who ORDER BY who;
SQL
}

fresh_table  # the pacing settings are set through it
IFS=, read -r -a modes <<<"${MODES:-idle,synapse pacing,health pacing,sleep off}"
for round in $(seq 1 "$ROUNDS"); do
  n=${#modes[@]}
  for i in $(seq 0 $((n - 1))); do run "$round" "${modes[$(( (i + round - 1) % n ))]}"; done
done

# Ratios per round, then their medians.
median() { sort -g | awk '{ v[NR] = $1 } END { print (NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2) }'; }
declare -A ratio med
echo
printf '%-6s %-15s %7s %8s %8s %9s %10s %8s %8s\n' round mode TPS p50_ms p99_ms rows/s p50/idle p99/idle "rows/off"
for round in $(seq 1 "$ROUNDS"); do
  read -r _ idle_p50 idle_p99 _ _ _ <<<"${result[$round,idle]}"
  read -r _ _ _ _ so_secs so_rows <<<"${result[$round,sleep off]}"
  so_rate=$(calc "$so_rows / $so_secs")
  for name in "${modes[@]}"; do
    read -r tps p50 p99 _ secs rows <<<"${result[$round,$name]}"
    rps=$(calc "$rows / $secs")
    ratio[$round,$name,p50]=$(calc "$p50 / $idle_p50"); ratio[$round,$name,p99]=$(calc "$p99 / $idle_p99")
    ratio[$round,$name,rows]=$(calc "$rps / $so_rate")
    printf '%-6s %-15s %7s %8s %8s %9.0f %9.2fx %7.2fx %7.2fx\n' "$round" "$name" "$tps" "$p50" "$p99" "$rps" \
      "${ratio[$round,$name,p50]}" "${ratio[$round,$name,p99]}" "${ratio[$round,$name,rows]}"
  done
done
echo
echo "median of $ROUNDS rounds:"
for name in "${modes[@]}"; do
  for k in p50 p99 rows; do
    med[$k]=$(for r in $(seq 1 "$ROUNDS"); do echo "${ratio[$r,$name,$k]}"; done | median)
  done
  printf '  %-15s p50 %5.2fx idle  p99 %5.2fx idle  rows/s %5.2fx sleep off\n' "$name" "${med[p50]}" "${med[p99]}" "${med[rows]}"
done
[[ ",${MODES:-health pacing}," == *",health pacing,"* ]] || exit 0  # the target is health pacing's
hp99=$(for r in $(seq 1 "$ROUNDS"); do echo "${ratio[$r,health pacing,p99]}"; done | median)
hrows=$(for r in $(seq 1 "$ROUNDS"); do echo "${ratio[$r,health pacing,rows]}"; done | median)
printf 'health pacing (median): foreground p99 %.2fx idle (target <= 1.5: %s), throughput %.2fx sleep off (target >= 0.90: %s)\n' \
  "$hp99" "$([ "$(calc "$hp99 <= 1.5")" = 1 ] && echo met || echo NOT met)" \
  "$hrows" "$([ "$(calc "$hrows >= 0.9")" = 1 ] && echo met || echo NOT met)"
