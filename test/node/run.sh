#!/usr/bin/env bash
# The Node suite: bgupdate's SQLite extension from better-sqlite3 (installed
# from npm into test/node/node_modules on first use; built from source when no
# prebuilt binary can be fetched, against the installed Node's headers).
# Ends with "N passed, N failed".
set -u
cd "$(dirname "$0")"
if [ ! -f ../../sqlite_extension/bgupdate.so ]; then
  echo "sqlite_extension/bgupdate.so is missing: run 'make sqlite' first"
  echo "0 passed, 1 failed"; exit 1
fi
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  echo "node and npm are needed (scripts/install_deps.sh installs them)"
  echo "0 passed, 1 failed"; exit 1
fi
if [ ! -f node_modules/better-sqlite3/build/Release/better_sqlite3.node ]; then
  # Built from source against the installed Node's headers (nodedir): no
  # download of a prebuilt binary or of headers from outside the npm registry.
  nodedir=/usr; [ -d /usr/include/node ] || nodedir=""
  if ! npm_config_nodedir=$nodedir npm_config_build_from_source=true \
       npm install --no-audit --no-fund --loglevel=error >npm-install.log 2>&1; then
    tail -20 npm-install.log
    echo "node: npm install of better-sqlite3 failed"
    echo "0 passed, 1 failed"; exit 1
  fi
fi
exec node test_application_batches.js
