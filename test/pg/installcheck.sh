#!/usr/bin/env bash
# `make installcheck`: every suite that runs against an installed, running
# server (PGHOST/PGPORT/PGUSER, a superuser; PG_CONFIG picks the installation)
# instead of a throwaway one: pg_regress and isolation through PGXS
# (`make -C pg_extension installcheck`), then pgTAP and the psycopg2 tests.
# The server needs shared_preload_libraries = 'bgupdate' and
# bgupdate.worker_enabled = off (test/pg/regress.conf). The Cluster-based TAP
# tests (test/pg/tap) start servers of their own and are not run here.
# The last line is "N passed, M failed".
set -u
root=$(cd "$(dirname "$0")/../.." && pwd)
PG_CONFIG=${PG_CONFIG:-$(command -v /usr/lib/postgresql/15/bin/pg_config || command -v pg_config)}
export PGBIN=${PGBIN:-$("$PG_CONFIG" --bindir)}
log=$(mktemp /tmp/bgupdate-installcheck.XXXXXX)

make -C "$root/pg_extension" installcheck PG_CONFIG="$PG_CONFIG" 2>&1 | tee "$log"
rc=${PIPESTATUS[0]}
p=$(grep -cE '\.\.\. ok' "$log"); f=$(grep -cE '\.\.\. (FAILED|failed)' "$log")
[ "$rc" -ne 0 ] && [ "$f" -eq 0 ] && f=1
echo "pg_regress and isolation: $p passed, $f failed"
[ "$rc" -ne 0 ] && [ -f "$root/pg_extension/regression.diffs" ] && cat "$root/pg_extension/regression.diffs"
[ "$rc" -ne 0 ] && [ -f "$root/pg_extension/output_iso/regression.diffs" ] && cat "$root/pg_extension/output_iso/regression.diffs"

"$root/test/pg/pgtap_on_server.sh" 2>&1 | tee "$log"
rc2=${PIPESTATUS[0]}
read -r p2 f2 < <(sed -nE 's/^([0-9]+) passed, ([0-9]+) failed$/\1 \2/p' "$log" | tail -n 1)
[ -z "${p2:-}" ] && p2=0 && f2=1
[ "$rc2" -ne 0 ] && [ "$f2" -eq 0 ] && f2=1
rm -f "$log"
echo "$((p + p2)) passed, $((f + f2)) failed"
[ $((f + f2)) -eq 0 ]
