#!/usr/bin/env bash
# The Node suite: bgupdate's SQLite extension from better-sqlite3 (installed
# from npm into test/node/node_modules on first use: install_better_sqlite3.sh).
# Ends with "N passed, N failed".
set -u
cd "$(dirname "$0")"
if [ ! -f ../../sqlite_extension/bgupdate.so ]; then
  echo "sqlite_extension/bgupdate.so is missing: run 'make sqlite' first"
  echo "0 passed, 1 failed"; exit 1
fi
if ! ./install_better_sqlite3.sh; then
  echo "node: better-sqlite3 is not available"
  echo "0 passed, 1 failed"; exit 1
fi
exec node test_application_batches.js
