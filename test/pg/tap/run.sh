#!/usr/bin/env bash
# PostgreSQL::Test::Cluster TAP tests of the bgupdate extension (t/*.pl).
# Needs `make install` done. Runs as the postgres user (initdb refuses root)
# in a temp dir it owns. Ends with "N passed, N failed": TAP assertions, plus
# one failure per test file that dies or misses its plan.
#   test/pg/tap/run.sh [name-substring...]   KEEP_TAP=1 keeps the temp dir
set -u
here=$(cd "$(dirname "$0")" && pwd)
pgbin=${PGBIN:-/usr/lib/postgresql/15/bin}   # PGBIN: a relocated copy with a private install
pgxs=$(dirname "$("$pgbin/pg_config" --pgxs)")/../..
work=$(mktemp -d /tmp/bgupdate_tap.XXXXXX)
# Servers a killed or crashed test left running (Cluster's END block did not run).
stop_leftovers() {
  local pidfile
  for pidfile in $(find "$1" -name postmaster.pid 2>/dev/null); do
    as_pg "$pgbin/pg_ctl" -D "$(dirname "$pidfile")" -m immediate stop >/dev/null 2>&1 || true
  done
}
cleanup() { stop_leftovers "$work"; [ -n "${KEEP_TAP:-}" ] || rm -rf "$work"; }
trap cleanup EXIT

# Copy the tests: the checkout may not be readable by postgres.
cp -r "$here/t" "$here/lib" "$work/"
if [ "$(id -u)" = 0 ]; then
  chown -R postgres: "$work"
  as_pg() { runuser -u postgres -- "$@"; }
else
  as_pg() { "$@"; }
fi

files=()
for f in "$work"/t/*.pl; do
  if [ $# -eq 0 ]; then files+=("$f"); continue; fi
  for pat in "$@"; do case "$(basename "$f")" in *"$pat"*) files+=("$f");; esac; done
done

passed=0; failed=0; start=$(date +%s)
cd "$work"
for f in "${files[@]}"; do
  name=$(basename "$f" .pl)
  out="$work/$name.out"
  t0=$(date +%s)
  # Each file gets its own TESTDIR, so its logs are easy to find.
  as_pg mkdir -p "$work/$name"
  as_pg env -i HOME="$work" PATH="$pgbin:/usr/local/bin:/usr/bin:/bin" LANG=C.UTF-8 \
    PG_REGRESS="$pgxs/src/test/regress/pg_regress" \
    PERL5LIB="$pgxs/src/test/perl:$work/lib" TESTDIR="$work/$name" \
    PG_TEST_TIMEOUT_DEFAULT="${PG_TEST_TIMEOUT_DEFAULT:-180}" \
    timeout --kill-after=30 "${TAP_FILE_TIMEOUT:-900}" prove -v "$f" </dev/null 2>&1 | tee "$out"
  rc=${PIPESTATUS[0]}
  [ "$rc" -ne 124 ] && [ "$rc" -ne 137 ] || echo "# $name: timed out"
  stop_leftovers "$work/$name"
  p=$(grep -cE '^ok [0-9]+' "$out"); n=$(grep -cE '^not ok [0-9]+' "$out")
  if [ "$rc" -ne 0 ] && [ "$n" -eq 0 ]; then n=1; echo "# $name: died or missed its plan (prove exit $rc)"; fi
  passed=$((passed+p)); failed=$((failed+n))
  echo "# $name: $p passed, $n failed in $(( $(date +%s) - t0 ))s"
  if [ "$n" -ne 0 ]; then
    for log in "$work/$name"/tmp_check/log/*; do
      [ -f "$log" ] || continue
      echo "----- $(basename "$log") (last 200 lines)"
      tail -n 200 "$log"
    done
  fi
done
[ -z "${KEEP_TAP:-}" ] || echo "# kept $work"
echo "# TAP total time $(( $(date +%s) - start ))s"
[ ${#files[@]} -gt 0 ] || { echo "no test files matched"; failed=$((failed+1)); }
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
