#!/usr/bin/env bash
# Installs better-sqlite3 from npm into test/node/node_modules unless it is
# there (built from source against the installed Node's headers: no download
# of a prebuilt binary or of headers from outside the npm registry). Used by
# the Node suite and by the README test (its Node block). Prints why on failure.
set -u
cd "$(dirname "$0")"
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  echo "node and npm are needed (scripts/install_deps.sh installs them)"; exit 1
fi
[ -f node_modules/better-sqlite3/build/Release/better_sqlite3.node ] && exit 0
nodedir=/usr; [ -d /usr/include/node ] || nodedir=""
if ! npm_config_nodedir=$nodedir npm_config_build_from_source=true \
     npm install --no-audit --no-fund --loglevel=error >npm-install.log 2>&1; then
  tail -20 npm-install.log
  echo "npm install of better-sqlite3 failed"; exit 1
fi
