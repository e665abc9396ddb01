#!/usr/bin/env bash
# Tests tools/bgupdate against the SQLite extension. Builds the extension
# first; fails (never skips) when it cannot be built or found. Ends with
# "N passed, N failed".
set -u
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
fail() { echo "tools: $1"; echo "0 passed, 1 failed"; exit 1; }

make -C "$root/common" >&2 || fail "building common/ failed"
make -C "$root/sqlite_extension" >&2 || fail "building sqlite_extension/ failed"
[ -f "$root/sqlite_extension/bgupdate.so" ] || fail "sqlite_extension/bgupdate.so is missing after the build"
[ -x /usr/bin/python3 ] || fail "/usr/bin/python3 (Debian's, with sqlite3 extension loading) is missing"

/usr/bin/python3 "$here/test_cli.py"
