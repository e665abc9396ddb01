#!/usr/bin/env bash
# The randomized concurrency checker's short run, a suite of `make check`:
# first the checker's own checks on made-up databases (test_checks.py), then
# PostgreSQL (a throwaway server of $PGBIN, the system's by default) and
# SQLite (the build tree's sqlite_extension/bgupdate.so), about two minutes
# in all. A random seed unless SEED is set; the checker prints it and, on a
# violation, the command that replays the run. Ends with "N passed, N failed".
#   SEED=N CHECKER_PG_SECONDS=45 CHECKER_SQLITE_SECONDS=25 test/concurrency/run.sh
set -u
cd "$(dirname "$0")/../.."
if [ ! -f sqlite_extension/bgupdate.so ]; then
  echo "sqlite_extension/bgupdate.so is missing: run 'make sqlite' first"
  echo "0 passed, 1 failed"
  exit 1
fi
counts() { sed -nE 's/^([0-9]+) passed, ([0-9]+) failed$/\1 \2/p' "$1" | tail -n 1; }
log=$(mktemp /tmp/bgupdate-checker-run.XXXXXX)
trap 'rm -f "$log"' EXIT
# Debian's python3: its sqlite3 module loads extensions and it has psycopg2 (pyenv's has neither).
/usr/bin/python3 test/concurrency/test_checks.py 2>&1 | tee "$log"
read -r sp sf < <(counts "$log"; echo)
[ -z "${sp:-}" ] && sp=0 && sf=1
args=(--engine "${CHECKER_ENGINE:-both}" --pg-seconds "${CHECKER_PG_SECONDS:-45}"
      --sqlite-seconds "${CHECKER_SQLITE_SECONDS:-25}" --drain-seconds "${CHECKER_DRAIN_SECONDS:-90}")
[ -n "${SEED:-}" ] && args+=(--seed "$SEED")
/usr/bin/python3 test/concurrency/checker.py "${args[@]}" "$@" 2>&1 | tee "$log"
rc=${PIPESTATUS[0]}
read -r cp cf < <(counts "$log"; echo)
[ -z "${cp:-}" ] && cp=0 && cf=1
[ "$rc" -ne 0 ] && [ "$cf" -eq 0 ] && cf=1
echo "$((sp + cp)) passed, $((sf + cf)) failed"
[ $((sf + cf)) -eq 0 ]
