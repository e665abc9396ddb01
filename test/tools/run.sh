#!/usr/bin/env bash
# Tests the C++ tool (tools/bgupdate) on SQLite and on PostgreSQL, the
# gradual NOT NULL example on both, logical databases split across physical
# ones, full-schema snapshots, porting from SQLite to PostgreSQL, that every
# version agrees with VERSION (test_versions.py) and that the man page matches
# the tool (test_man_page.py). Builds what it needs first; starts a throwaway
# PostgreSQL server as the postgres system user (port 54418) with the
# extension as installed (`make install`; make check installs first).
# Fails (never skips) when something cannot be built or started.
# Ends with "N passed, N failed".
set -u
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
PGBIN=${PGBIN:-/usr/lib/postgresql/15/bin}
PORT=${BGUPDATE_TOOLS_TEST_PORT:-54418}
fail() { echo "tools: $1"; echo "0 passed, 1 failed"; exit 1; }

make -C "$root/common" >&2 || fail "building common/ failed"
make -C "$root/sqlite_extension" >&2 || fail "building sqlite_extension/ failed"
make -C "$root/tools" >&2 || fail "building tools/ failed"
[ -x "$root/tools/bgupdate" ] || fail "tools/bgupdate is missing after the build"
[ -x /usr/bin/python3 ] || fail "/usr/bin/python3 (Debian's, with sqlite3 extension loading) is missing"
command -v script >/dev/null || fail "script (bsdutils) is missing: the progress display is tested in a pseudo-terminal"

# A throwaway server.
W=$(mktemp -d /tmp/bgupdate-tooltest.XXXXXX)
chmod 755 "$W"
if [ "$(id -u)" -eq 0 ]; then chown postgres: "$W"; as_pg() { runuser -u postgres -- "$@"; }; else as_pg() { "$@"; }; fi
stop_server() { as_pg "$PGBIN/pg_ctl" -D "$W/data" -m immediate stop >/dev/null 2>&1; rm -rf "$W"; }
trap stop_server EXIT
as_pg "$PGBIN/initdb" -D "$W/data" -A trust >/dev/null || fail "initdb failed"
printf "port = %s\nunix_socket_directories = '%s'\nlisten_addresses = ''\nfsync = off\n" "$PORT" "$W" >>"$W/data/postgresql.conf"
as_pg "$PGBIN/pg_ctl" -D "$W/data" -l "$W/log" -w start >/dev/null || { cat "$W/log"; fail "the PostgreSQL server did not start"; }
export BGUPDATE_TEST_PG="host=$W port=$PORT user=postgres dbname=postgres"

total_p=0; total_f=0
for t in test_cli.py test_example.py test_split_databases.py test_snapshot.py test_port.py test_versions.py test_man_page.py; do
  out=$(/usr/bin/python3 "$here/$t" 2>&1); rc=$?
  echo "$out"
  line=$(grep -E '^[0-9]+ passed, [0-9]+ failed' <<<"$out" | tail -n 1)
  if [ -z "$line" ]; then total_f=$((total_f + 1)); continue; fi
  p=${line%% passed*}; f=${line#*passed, }; f=${f%% failed*}
  total_p=$((total_p + p)); total_f=$((total_f + f))
  [ $rc -ne 0 ] && [ "$f" -eq 0 ] && total_f=$((total_f + 1))
done
echo "$total_p passed, $total_f failed"
[ "$total_f" -eq 0 ]
