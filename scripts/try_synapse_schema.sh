#!/usr/bin/env bash
# Migrates Synapse's real schema directory (synapse/storage/schema of a
# Synapse checkout; not shipped here) from an empty database to its newest
# version with tools/bgupdate, on SQLite and, given a conninfo of an empty
# database with the extension created, on PostgreSQL. Prints the summaries.
#   scripts/try_synapse_schema.sh /path/to/synapse/storage/schema [PG_CONNINFO] [COMPAT_VERSION]
set -euo pipefail
schema=${1:?usage: $0 SYNAPSE_SCHEMA_DIR [PG_CONNINFO] [COMPAT_VERSION]}
pg=${2:-}
compat=${3:-}
tool=$(cd "$(dirname "$0")/.." && pwd)/tools/bgupdate
[ -x "$tool" ] || { echo "build the tool first: make tools" >&2; exit 1; }
args=("$schema")
[ -n "$compat" ] && args+=(--compat-version "$compat")
db=$(mktemp /tmp/synapse_schema.XXXXXX.db)
trap 'rm -f "$db"' EXIT
echo "== SQLite"
"$tool" migrate --db "sqlite://$db" "${args[@]}" | tail -n 1
"$tool" status --db "sqlite://$db" --json | /usr/bin/python3 -c 'import json,sys; print(len(json.load(sys.stdin)), "queued background updates")'
if [ -n "$pg" ]; then
  echo "== PostgreSQL"
  "$tool" migrate --db "$pg" "${args[@]}" | tail -n 1
  "$tool" status --db "$pg" --json | /usr/bin/python3 -c 'import json,sys; print(len(json.load(sys.stdin)), "queued background updates")'
fi
