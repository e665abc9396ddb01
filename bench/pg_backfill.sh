#!/usr/bin/env bash
# PostgreSQL backfill benchmark: new = old * 100 over N rows (default
# 2,000,000), four ways, from one server in one run, each on a freshly built
# copy of the same table:
#   1. one UPDATE statement (the baseline: fastest, but one huge transaction)
#   2. a PL/pgSQL procedure looping keyset batches of 10,000 rows with COMMIT
#   3. CALL bgupdate.run() (sleep disabled)
#   4. the bgupdate background worker (sleep disabled), enqueue to completion
# and prints each one's throughput relative to the single UPDATE.
# Usage: bench/pg_backfill.sh [rows]   (or BENCH_ROWS=...)
set -euo pipefail
ROWS=${1:-${BENCH_ROWS:-2000000}}
PGBIN=${PGBIN:-/usr/lib/postgresql/15/bin}
W=$(mktemp -d /tmp/bgupdate-bench.XXXXXX)
PORT=${BENCH_PORT:-54398}
if [ "$(id -u)" -eq 0 ]; then chown postgres: "$W"; as_pg() { runuser -u postgres -- "$@"; }; else as_pg() { "$@"; }; fi
chmod 755 "$W"
cleanup() { as_pg "$PGBIN/pg_ctl" -D "$W/data" -m fast -w stop >/dev/null 2>&1 || true; rm -rf "$W"; }
trap cleanup EXIT

as_pg "$PGBIN/initdb" -D "$W/data" -A trust >/dev/null
cat >>"$W/data/postgresql.conf" <<CONF
port = $PORT
unix_socket_directories = '$W'
listen_addresses = ''
shared_preload_libraries = 'bgupdate'
shared_buffers = 256MB
max_wal_size = 8GB
checkpoint_timeout = 30min
bgupdate.naptime_ms = 60000
bgupdate.worker_enabled = off
CONF
as_pg "$PGBIN/pg_ctl" -D "$W/data" -l "$W/server.log" -w start >/dev/null
export PGOPTIONS="-c client_min_messages=warning"
calc() { awk "BEGIN { printf \"%.6f\", $1 }"; }
psql() { as_pg "$PGBIN/psql" -h "$W" -p "$PORT" -d postgres -X -q -v ON_ERROR_STOP=1 "$@"; }
psql -c "CREATE EXTENSION bgupdate" -c "SELECT bgupdate.set_enabled(true)" >/dev/null

fresh_table() {
  psql <<SQL >/dev/null
DROP TABLE IF EXISTS bench;
DELETE FROM bgupdate.background_updates;
CREATE TABLE bench (id bigint PRIMARY KEY, old int NOT NULL, new int, payload text);
INSERT INTO bench SELECT g, g % 1000000, NULL, md5(g::text) FROM generate_series(1, $ROWS) g;
VACUUM ANALYZE bench;
CHECKPOINT;
SQL
}
now() { date +%s.%N; }
check() {
  local bad
  bad=$(psql -At -c "SELECT count(*) FROM bench WHERE new IS DISTINCT FROM old * 100")
  [ "$bad" = "0" ] || { echo "bench: $1 left $bad rows wrong" >&2; exit 1; }
}

declare -A secs
echo "bgupdate PostgreSQL backfill benchmark: $ROWS rows, new = old * 100"

fresh_table
t0=$(now); psql -c "UPDATE bench SET new = old * 100"; t1=$(now)
check update; secs[update]=$(calc "$t1 - $t0")

fresh_table
psql <<'SQL'
CREATE OR REPLACE PROCEDURE keyset_loop(batch int) LANGUAGE plpgsql AS $$
DECLARE lo bigint := 0; hi bigint;
BEGIN
  LOOP
    SELECT max(id) INTO hi FROM (SELECT id FROM bench WHERE id > lo ORDER BY id LIMIT batch) s;
    EXIT WHEN hi IS NULL;
    UPDATE bench SET new = old * 100 WHERE id > lo AND id <= hi;
    lo := hi;
    COMMIT;
  END LOOP;
END $$;
SQL
t0=$(now); psql -c "CALL keyset_loop(10000)"; t1=$(now)
check keyset; secs[keyset]=$(calc "$t1 - $t0")

fresh_table
psql -c "SELECT bgupdate.register_batched_update('bench_fill', 'bench', ARRAY['id'], 'new = old * 100', 'new IS NULL')" >/dev/null
psql -c "SELECT bgupdate.enqueue('bench_fill')" >/dev/null
t0=$(now); psql -c "SET bgupdate.sleep_enabled = off" -c "CALL bgupdate.run()"; t1=$(now)
check run; secs[run]=$(calc "$t1 - $t0")

fresh_table
psql -c "ALTER SYSTEM SET bgupdate.sleep_enabled = off" -c "ALTER SYSTEM SET bgupdate.worker_enabled = on" \
     -c "SELECT pg_reload_conf()" >/dev/null
sleep 2   # the launcher has started the worker, which idles on its latch
psql <<'SQL'
CREATE OR REPLACE PROCEDURE wait_done(name text) LANGUAGE plpgsql AS $$
BEGIN
  WHILE NOT bgupdate.has_completed(name) LOOP
    COMMIT;
    PERFORM pg_sleep(0.01);
  END LOOP;
END $$;
SQL
t0=$(now); psql -c "SELECT bgupdate.enqueue('bench_fill')" -c "CALL wait_done('bench_fill')" >/dev/null; t1=$(now)
check worker; secs[worker]=$(calc "$t1 - $t0")
batches=$(psql -At -c "SELECT batches || ' batches, last batch ' || batch_size || ' rows' FROM bgupdate.status WHERE update_name = 'bench_fill'")

base=${secs[update]}
printf '%-44s %9s %12s %8s\n' method seconds rows/s "vs UPDATE"
for m in update keyset run worker; do
  case $m in
    update) label="single UPDATE" ;;
    keyset) label="PL/pgSQL keyset loop, 10k rows, COMMIT" ;;
    run) label="CALL bgupdate.run() (sleep off)" ;;
    worker) label="bgupdate worker (sleep off, enqueue..done)" ;;
  esac
  s=${secs[$m]}
  printf '%-44s %9.2f %12.0f %7.2fx\n' "$label" "$s" "$(calc "$ROWS / $s")" "$(calc "$base / $s")"
done
echo "worker: $batches"
