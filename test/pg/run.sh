#!/usr/bin/env bash
# Runs the PostgreSQL suites that need one throwaway server each: pg_regress
# (sql/, expected/), pg_isolation_regress (test/pg/isolation) and pgTAP
# (test/pg/pgtap). The Cluster-based TAP tests (crash, standby, worker) are
# test/pg/tap/run.sh, a suite of its own. Servers run as the postgres system
# user in a temporary folder it owns, so this works as root in a clean clone.
# The last line is "N passed, M failed" over all of them.
set -u
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
PGBIN=${PGBIN:-/usr/lib/postgresql/15/bin}
PGXS_DIR=$(dirname "$("$PGBIN/pg_config" --pgxs)")/..
PG_REGRESS=$PGXS_DIR/test/regress/pg_regress
PG_ISOLATION=$PGXS_DIR/test/isolation/pg_isolation_regress
ONLY=${1:-all}   # regress | isolation | pgtap | all

W=$(mktemp -d /tmp/bgupdate-pgtest.XXXXXX)
cp -r "$ROOT/sql" "$ROOT/expected" "$W/"
mkdir -p "$W/pg" && cp -r "$ROOT/test/pg/." "$W/pg/"
if [ "$(id -u)" -eq 0 ]; then
  chown -R postgres: "$W"
  as_pg() { runuser -u postgres -- "$@"; }
else
  as_pg() { "$@"; }
fi
cd "$W" || exit 1
chmod 755 "$W"

passed=0; failed=0
note() { echo "== $*"; }
show_file() { [ -f "$1" ] && { echo "---- $1"; cat "$1"; }; }

# pg_regress-style output: "test name ... ok" / "... FAILED".
count_regress() {
  local log=$1
  local p f
  p=$(grep -cE '\.\.\. ok' "$log"); f=$(grep -cE '\.\.\. FAILED|\.\.\. failed' "$log")
  passed=$((passed + p)); failed=$((failed + f))
  echo "$2: $p passed, $f failed"
}

run_regress() {
  note "pg_regress"
  local tests
  tests=$(cd sql && ls *.sql | sed 's/\.sql$//' | sort | tr '\n' ' ')
  as_pg "$PG_REGRESS" --temp-instance="$W/regress_instance" --temp-config="$W/pg/regress.conf" \
    --bindir="$PGBIN" --inputdir="$W" --outputdir="$W" --dbname=contrib_regression $tests >"$W/regress.log" 2>&1
  local rc=$?
  cat "$W/regress.log"
  count_regress "$W/regress.log" regress
  if [ $rc -ne 0 ]; then
    show_file "$W/regression.diffs"
    grep -qE '\.\.\. (FAILED|failed)' "$W/regress.log" || failed=$((failed + 1))
    tail -n 50 "$W/regress_instance/log/postmaster.log" 2>/dev/null
  fi
}

run_isolation() {
  [ -d "$W/pg/isolation/specs" ] || return 0
  note "pg_isolation_regress"
  local tests
  tests=$(cd "$W/pg/isolation/specs" && ls *.spec | sed 's/\.spec$//' | sort | tr '\n' ' ')
  as_pg "$PG_ISOLATION" --temp-instance="$W/isolation_instance" --temp-config="$W/pg/regress.conf" \
    --bindir="$PGBIN" --inputdir="$W/pg/isolation" --outputdir="$W/isolation_out" \
    --dbname=contrib_regression $tests >"$W/isolation.log" 2>&1
  local rc=$?
  cat "$W/isolation.log"
  count_regress "$W/isolation.log" isolation
  if [ $rc -ne 0 ]; then
    show_file "$W/isolation_out/regression.diffs"
    grep -qE '\.\.\. (FAILED|failed)' "$W/isolation.log" || failed=$((failed + 1))
  fi
}

run_pgtap() {
  ls "$W"/pg/pgtap/*.sql >/dev/null 2>&1 || return 0
  note "pgTAP"
  local data=$W/pgtap_data port=${PGTAP_PORT:-54399}
  as_pg "$PGBIN/initdb" -D "$data" -A trust >/dev/null || { failed=$((failed + 1)); return; }
  cat "$W/pg/regress.conf" >>"$data/postgresql.conf"
  printf "port = %s\nunix_socket_directories = '%s'\nlisten_addresses = ''\n" "$port" "$W" >>"$data/postgresql.conf"
  as_pg "$PGBIN/pg_ctl" -D "$data" -l "$W/pgtap_server.log" -w start >/dev/null || { cat "$W/pgtap_server.log"; failed=$((failed + 1)); return; }
  # pgTAP and the Python drivers (psycopg2), as `make installcheck` runs them
  # against an installed server.
  as_pg env PGHOST="$W" PGPORT="$port" PGUSER=postgres PGBIN="$PGBIN" "$W/pg/pgtap_on_server.sh" >"$W/pgtap.log" 2>&1
  local rc=$?
  as_pg "$PGBIN/pg_ctl" -D "$data" -w -m fast stop >/dev/null
  cat "$W/pgtap.log"
  local p f
  read -r p f < <(sed -nE 's/^([0-9]+) passed, ([0-9]+) failed$/\1 \2/p' "$W/pgtap.log" | tail -n 1)
  [ -z "${p:-}" ] && p=0 && f=1
  [ $rc -ne 0 ] && [ "$f" -eq 0 ] && f=1 && tail -n 30 "$W/pgtap_server.log"
  passed=$((passed + p)); failed=$((failed + f))
  echo "pgtap and python: $p passed, $f failed"
}

case "$ONLY" in
  regress) run_regress ;;
  isolation) run_isolation ;;
  pgtap) run_pgtap ;;
  *) run_regress; run_isolation; run_pgtap ;;
esac

if [ "$failed" -eq 0 ] && [ -z "${KEEP_TMP:-}" ]; then rm -rf "$W"; else echo "(work folder kept: $W)"; fi
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
