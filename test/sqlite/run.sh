#!/usr/bin/env bash
# Runs every SQLite test (test/sqlite/test_*.py) against the already built
# sqlite_extension/bgupdate.so. Builds nothing. Ends with "N passed, N failed".
set -u
cd "$(dirname "$0")"
if [ ! -f ../../sqlite_extension/bgupdate.so ]; then
  echo "sqlite_extension/bgupdate.so is missing: run 'make sqlite' first"
  echo "0 passed, 1 failed"
  exit 1
fi
# Debian's python3: its sqlite3 module can load extensions (pyenv's cannot).
exec /usr/bin/python3 runner.py "$@"
