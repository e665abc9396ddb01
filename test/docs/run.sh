#!/usr/bin/env bash
# The README test: every block of README.md, pg_extension/README.md and
# examples/*/README.md run on its engine (test_readme_blocks.py). Builds the
# SQLite extension and the tool; the PostgreSQL extension must be installed
# where PGBIN's pg_config points (`make install`, or a private copy). Starts
# its own throwaway server (as the postgres user) on BGUPDATE_DOCS_TEST_PORT.
# Ends with "N passed, N failed".
set -u
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
fail() { echo "docs: $1"; echo "0 passed, 1 failed"; exit 1; }

make -C "$root/common" >&2 || fail "building common/ failed"
make -C "$root/sqlite_extension" >&2 || fail "building sqlite_extension/ failed"
make -C "$root/tools" >&2 || fail "building tools/ failed"
command -v sqlite3 >/dev/null || fail "the sqlite3 shell is missing (the quickstart is written for it)"
[ -x /usr/bin/python3 ] || fail "/usr/bin/python3 (Debian's, with sqlite3 extension loading) is missing"
"$root/test/node/install_better_sqlite3.sh" || fail "better-sqlite3 (for the Node block) is not available"
exec /usr/bin/python3 "$here/test_readme_blocks.py"
