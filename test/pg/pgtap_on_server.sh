#!/usr/bin/env bash
# pgTAP (test/pg/pgtap, with pg_prove) and the psycopg2 tests (test/pg/python)
# against a running server: the one PGHOST/PGPORT/PGUSER name (a superuser).
# test/pg/run.sh points it at its throwaway server; `make installcheck` at an
# installed one. The server needs shared_preload_libraries = 'bgupdate' and
# bgupdate.worker_enabled = off (test/pg/regress.conf), and pgTAP installed.
# Each test file gets a fresh database, dropped again when everything passed.
# The last line is "N passed, M failed".
set -u
here=$(cd "$(dirname "$0")" && pwd)
PGBIN=${PGBIN:-/usr/lib/postgresql/15/bin}
psql_q() { "$PGBIN/psql" -X -q -v ON_ERROR_STOP=1 "$@"; }
passed=0; failed=0; made=()
fresh_db() {
  psql_q -d postgres -c "SET client_min_messages = warning" -c "DROP DATABASE IF EXISTS $1" \
    -c "CREATE DATABASE $1" >/dev/null || return 1
  made+=("$1")
}
log=$(mktemp /tmp/bgupdate-pgtap.XXXXXX)

settings=$(psql_q -At -d postgres -c "SELECT 'bgupdate' = ANY (string_to_array(replace(
  current_setting('shared_preload_libraries'), ' ', ''), ',')) AND current_setting('bgupdate.worker_enabled', true) = 'off'")
if [ "$settings" != t ]; then
  echo "pgtap_on_server.sh: the server (PGHOST=${PGHOST:-default} PGPORT=${PGPORT:-default}) must run with" \
       "shared_preload_libraries = 'bgupdate' and bgupdate.worker_enabled = off (see test/pg/regress.conf)"
  echo "0 passed, 1 failed"
  exit 1
fi

if ls "$here"/pgtap/*.sql >/dev/null 2>&1; then
  if fresh_db bgupdate_pgtap && psql_q -d bgupdate_pgtap -c "CREATE EXTENSION pgtap" >/dev/null; then
    pg_prove -v -d bgupdate_pgtap "$here"/pgtap/*.sql >"$log" 2>&1
    rc=$?
    cat "$log"
    p=$(grep -cE '^ok [0-9]+' "$log"); f=$(grep -cE '^not ok [0-9]+' "$log")
    [ $rc -ne 0 ] && [ "$f" -eq 0 ] && f=1
    passed=$((passed + p)); failed=$((failed + f))
    echo "pgtap: $p passed, $f failed"
  else
    echo "pgtap: cannot make the test database with pgTAP (is postgresql-15-pgtap installed for this server?)"
    failed=$((failed + 1))
  fi
fi

for py in "$here"/python/test_*.py; do
  [ -f "$py" ] || continue
  db=bgupdate_py_$(basename "$py" .py)
  if ! fresh_db "$db"; then failed=$((failed + 1)); continue; fi
  BGUPDATE_PG_DSN="dbname=$db" /usr/bin/python3 "$py" >"$log" 2>&1
  rc=$?
  cat "$log"
  read -r p f < <(sed -nE 's/^([0-9]+) passed, ([0-9]+) failed$/\1 \2/p' "$log" | tail -n 1)
  [ -z "${p:-}" ] && p=0 && f=1
  [ $rc -ne 0 ] && [ "$f" -eq 0 ] && f=1
  passed=$((passed + p)); failed=$((failed + f))
  echo "python $(basename "$py"): $p passed, $f failed"
done

rm -f "$log"
if [ "$failed" -eq 0 ]; then
  for db in "${made[@]}"; do psql_q -d postgres -c "DROP DATABASE IF EXISTS $db" >/dev/null; done
fi
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
