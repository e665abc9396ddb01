#!/usr/bin/env bash
# The randomized concurrency checker's short run, a suite of `make check`:
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
args=(--engine "${CHECKER_ENGINE:-both}" --pg-seconds "${CHECKER_PG_SECONDS:-45}"
      --sqlite-seconds "${CHECKER_SQLITE_SECONDS:-25}" --drain-seconds "${CHECKER_DRAIN_SECONDS:-90}")
[ -n "${SEED:-}" ] && args+=(--seed "$SEED")
# Debian's python3: its sqlite3 module loads extensions and it has psycopg2 (pyenv's has neither).
exec /usr/bin/python3 test/concurrency/checker.py "${args[@]}" "$@"
