#!/usr/bin/env bash
# The Debian packages as a DBA meets them: builds them (scripts/build_deb.sh:
# dpkg-buildpackage in a clean copy, lintian), installs them with
# `apt-get install ./….deb`, then
#   - a fresh PostgreSQL cluster of the system's binaries (as postgres, own
#     port) with shared_preload_libraries = 'bgupdate' runs a queued backfill
#     through the background worker to completion;
#   - the sqlite3 shell loads `bgupdate` by bare name and steps an update, and
#     the tool runs the rest with the installed module;
#   - `bgupdate --version` and `man bgupdate` work, and every version agrees;
#   - the autopkgtest (debian/tests/installcheck) runs the pg_regress and
#     isolation suites against the packaged extension;
# and purges them: dpkg knows them no more and none of their files is left.
# Needs root (it installs system-wide). Files that `make install` put on the
# packages' paths (or on /usr/local paths that would shadow them) are moved
# aside first and put back at the end, however the test ends, so `make check`
# can run this after its own `make install` and leave the system as it was.
# Ends with "N passed, N failed".
set -u
root=$(cd "$(dirname "$0")/../.." && pwd)
version=$(cat "$root/VERSION")
arch=$(dpkg --print-architecture)
PORT=${BGUPDATE_PACKAGES_TEST_PORT:-54420}
PGBIN=/usr/lib/postgresql/15/bin
packages=(postgresql-15-bgupdate libsqlite3-mod-bgupdate bgupdate)
passed=0; failed=0
ok() { echo "ok - $1"; passed=$((passed + 1)); }
not_ok() { echo "not ok - $1"; [ $# -gt 1 ] && printf '%s\n' "$2" | sed 's/^/    /'; failed=$((failed + 1)); }
check() {  # check NAME COMMAND...: passes when COMMAND exits 0
  local name=$1; shift
  local out; out=$("$@" 2>&1) && ok "$name" || not_ok "$name" "$out"
}
finish() { echo "$passed passed, $failed failed"; [ "$failed" -eq 0 ]; exit $?; }
[ "$(id -u)" -eq 0 ] || { not_ok "runs as root (it installs packages system-wide)"; finish; }

# ---- build
mkdir -p "$root/build/logs"
build_log=$root/build/logs/deb-build.log
start=$(date +%s)
if "$root/scripts/build_deb.sh" >"$build_log" 2>&1; then
  ok "the packages build (dpkg-buildpackage) and lintian finds no error ($(( $(date +%s) - start )) s)"
else
  not_ok "the packages build (dpkg-buildpackage) and lintian finds no error" "$(tail -n 40 "$build_log")"
  finish
fi
sed -n '/^== packages/,$p' "$build_log"
debs=()
for p in "${packages[@]}"; do debs+=("$root/build/deb/${p}_${version}_${arch}.deb"); done
for d in "${debs[@]}"; do [ -f "$d" ] || { not_ok "built $d"; finish; }; done

for p in "${packages[@]}"; do
  if dpkg-query -W -f='${db:Status-Abbrev}' "$p" 2>/dev/null | grep -q '^ii'; then
    not_ok "$p is not installed before the test (it would be removed at the end: remove it first)"; finish
  fi
done

# ---- move aside what `make install` left on the same paths, put it back at the end
stash=$(mktemp -d /var/tmp/bgupdate-packages-stash.XXXXXX)
W=$(mktemp -d /tmp/bgupdate-packages.XXXXXX)
chmod 755 "$W"; chown postgres: "$W"
shadows=(/usr/local/bin/bgupdate /usr/local/share/man/man1/bgupdate.1)
package_files() { for d in "${debs[@]}"; do dpkg-deb --fsys-tarfile "$d" | tar -t | sed -n 's|^\./|/|; /[^/]$/p'; done; }
mapfile -t files < <(package_files)
for f in "${files[@]}" "${shadows[@]}"; do
  if [ -e "$f" ] || [ -L "$f" ]; then mkdir -p "$stash$(dirname "$f")"; mv "$f" "$stash$f"; fi
done
cleanup() {
  runuser -u postgres -- "$PGBIN/pg_ctl" -D "$W/data" -m immediate stop >/dev/null 2>&1
  DEBIAN_FRONTEND=noninteractive apt-get purge -y -qq "${packages[@]}" </dev/null >/dev/null 2>&1
  (cd "$stash" && find . -type f -o -type l) | while read -r f; do mv "$stash/${f#./}" "/${f#./}"; done
  rm -rf "$stash" "$W"
}
trap cleanup EXIT

# ---- install
if out=$(DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${debs[@]}" </dev/null 2>&1); then
  ok "apt-get install ./postgresql-15-bgupdate ./libsqlite3-mod-bgupdate ./bgupdate"
else
  not_ok "apt-get install of the three packages" "$out"; finish
fi
for p in "${packages[@]}"; do
  check "dpkg knows $p $version installed" bash -c "dpkg-query -W -f='\${db:Status-Abbrev} \${Version}' $p | grep -qx 'ii  $version'"
done

# ---- PostgreSQL: the system's binaries, the packaged library preloaded, a backfill by the worker
as_pg() { runuser -u postgres -- "$@"; }
psql_app() { as_pg "$PGBIN/psql" -h "$W" -p "$PORT" -d app -X -q -A -t -v ON_ERROR_STOP=1 "$@"; }
if as_pg "$PGBIN/initdb" -D "$W/data" -A trust >"$W/initdb.log" 2>&1; then
  printf "port = %s\nunix_socket_directories = '%s'\nlisten_addresses = ''\nshared_preload_libraries = 'bgupdate'\nbgupdate.naptime_ms = 200\nbgupdate.launcher_rescan_ms = 500\n" \
    "$PORT" "$W" >>"$W/data/postgresql.conf"
  if as_pg "$PGBIN/pg_ctl" -D "$W/data" -l "$W/server.log" -w start >/dev/null 2>&1; then
    ok "a fresh cluster starts with shared_preload_libraries = 'bgupdate' (the packaged library)"
    as_pg "$PGBIN/psql" -h "$W" -p "$PORT" -d postgres -X -q -c "CREATE DATABASE app" >/dev/null
    check "CREATE EXTENSION bgupdate installs version $version (library and SQL)" bash -c "
      [ \"\$(runuser -u postgres -- $PGBIN/psql -h $W -p $PORT -d app -X -q -A -t -v ON_ERROR_STOP=1 \
          -c 'CREATE EXTENSION bgupdate' \
          -c \"SELECT extversion || ' ' || bgupdate.version() FROM pg_extension WHERE extname = 'bgupdate'\")\" = '$version $version' ]"
    psql_app <<'SQL' >/dev/null
CREATE TABLE t (id bigint PRIMARY KEY, old_column int NOT NULL, new_column int);
INSERT INTO t SELECT g, g, NULL FROM generate_series(1, 20000) g;
BEGIN;
SELECT bgupdate.register_batched_update('fill_new_column', 't', ARRAY['id'], 'new_column = old_column * 100',
                                        'new_column IS NULL');
SELECT bgupdate.enqueue('fill_new_column', 1);
COMMIT;
SQL
    done_by_worker=""
    for _ in $(seq 1 600); do
      [ "$(psql_app -c "SELECT bgupdate.has_completed('fill_new_column')")" = t ] && { done_by_worker=1; break; }
      sleep 0.2
    done
    if [ -n "$done_by_worker" ]; then
      ok "the worker completes the queued backfill (nobody stepped it)"
    else
      not_ok "the worker completes the queued backfill within 120 s" "$(psql_app -c 'SELECT * FROM bgupdate.status'; tail -n 20 "$W/server.log")"
    fi
    check "every row is filled" bash -c "[ \"\$(runuser -u postgres -- $PGBIN/psql -h $W -p $PORT -d app -X -A -t \
      -c 'SELECT count(*) FROM t WHERE new_column = old_column * 100')\" = 20000 ]"
    check "a bgupdate worker runs for the database" bash -c "[ \"\$(runuser -u postgres -- $PGBIN/psql -h $W -p $PORT \
      -d app -X -A -t -c \"SELECT count(*) > 0 FROM pg_stat_activity WHERE backend_type = 'bgupdate worker' AND datname = 'app'\")\" = t ]"
    check "bgupdate status against the cluster: exit 0, the update complete, no version warning" bash -c "
      out=\$(bgupdate status --db 'host=$W port=$PORT user=postgres dbname=app' 2>$W/status.err) &&
      grep -q 'fill_new_column.*complete' <<<\"\$out\" && [ ! -s $W/status.err ] || { echo \"\$out\"; cat $W/status.err; false; }"
  else
    not_ok "a fresh cluster starts with shared_preload_libraries = 'bgupdate'" "$(tail -n 20 "$W/server.log")"
  fi
else
  not_ok "initdb of a fresh cluster" "$(cat "$W/initdb.log")"
fi

# ---- the autopkgtest: pg_regress and isolation against the packaged extension
check "debian/tests/installcheck (autopkgtest): pg_regress and isolation against the packaged extension" \
  bash -c "cd '$root' && debian/tests/installcheck"

# ---- SQLite: the sqlite3 shell finds the module by bare name
db=$W/app.db
sqlite_out=$(cd / && sqlite3 -batch -bail "$db" 2>&1 <<'SQL'
.load bgupdate
SELECT 'version ' || bgupdate_version();
CREATE TABLE t (id INTEGER PRIMARY KEY, old_column INT, new_column INT);
WITH RECURSIVE g(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM g WHERE i < 1000)
INSERT INTO t SELECT i, i, NULL FROM g;
SELECT bgupdate_register_batched_update('fill_new_column', 't', '["id"]', 'new_column = old_column * 100',
                                        'new_column IS NULL');
INSERT INTO background_updates (ordering, update_name, progress_json) VALUES (1, 'fill_new_column', '{}');
SELECT 'stepped ' || json_extract(bgupdate_step(), '$.update_name');
SELECT 'filled ' || count(*) FROM t WHERE new_column = old_column * 100;
SQL
)
if grep -qx "version $version" <<<"$sqlite_out" && grep -qx 'stepped fill_new_column' <<<"$sqlite_out" &&
   grep -qE '^filled [1-9][0-9]*$' <<<"$sqlite_out" && ! grep -qx 'filled 1000' <<<"$sqlite_out"; then
  ok "sqlite3: .load bgupdate (bare name) works, bgupdate_version() is $version, one step fills one batch"
else
  not_ok "sqlite3: .load bgupdate (bare name), bgupdate_version(), one step" "$sqlite_out"
fi
check "bgupdate run finishes it with the installed module (exit 0, no version warning)" bash -c "
  bgupdate run --db 'sqlite://$db' --progress none 2>$W/run.err >/dev/null && [ ! -s $W/run.err ] &&
  [ \"\$(sqlite3 '$db' 'SELECT count(*) FROM t WHERE new_column = old_column * 100')\" = 1000 ] || { cat $W/run.err; false; }"
check "/usr/bin/python3: load_extension('bgupdate') finds it by name" /usr/bin/python3 -c "
import sqlite3
c = sqlite3.connect(':memory:'); c.enable_load_extension(True); c.load_extension('bgupdate')
assert c.execute('SELECT bgupdate_version()').fetchone()[0] == '$version'"

# ---- the tool and its man page
check "bgupdate on PATH is the packaged /usr/bin/bgupdate" bash -c "[ \"\$(command -v bgupdate)\" = /usr/bin/bgupdate ]"
check "bgupdate --version prints 'bgupdate $version'" bash -c "[ \"\$(bgupdate --version)\" = 'bgupdate $version' ]"
check "man bgupdate finds the packaged page" bash -c "[ \"\$(man -w bgupdate)\" = /usr/share/man/man1/bgupdate.1.gz ]"
check "man bgupdate renders it (NAME, COMMANDS, EXIT STATUS) without warnings" bash -c "
  out=\$(MANWIDTH=80 MANPAGER=cat man --warnings bgupdate 2>$W/man.err) &&
  grep -qE 'bgupdate +- +apply schema migrations' <<<\"\$out\" && grep -q '^COMMANDS' <<<\"\$out\" &&
  grep -q '^EXIT STATUS' <<<\"\$out\" && [ ! -s $W/man.err ] || { cat $W/man.err; false; }"

# ---- purge: gone from dpkg, no file left
runuser -u postgres -- "$PGBIN/pg_ctl" -D "$W/data" -m fast -w stop >/dev/null 2>&1
if out=$(DEBIAN_FRONTEND=noninteractive apt-get purge -y "${packages[@]}" </dev/null 2>&1); then
  ok "apt-get purge of the three packages"
else
  not_ok "apt-get purge of the three packages" "$out"
fi
for p in "${packages[@]}"; do
  check "dpkg -l no longer lists $p" bash -c "! dpkg -l $p 2>/dev/null | grep -q '^[a-z][a-z] '"
done
left=()
for f in "${files[@]}"; do { [ -e "$f" ] || [ -L "$f" ]; } && left+=("$f"); done
for d in /usr/share/doc/postgresql-15-bgupdate /usr/share/doc/libsqlite3-mod-bgupdate /usr/share/doc/bgupdate; do
  [ -e "$d" ] && left+=("$d")
done
if [ ${#left[@]} -eq 0 ]; then
  ok "none of the packages' ${#files[@]} files is left"
else
  not_ok "none of the packages' files is left" "${left[*]}"
fi
finish
