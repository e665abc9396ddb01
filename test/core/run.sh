#!/usr/bin/env bash
# Builds the core library and its GoogleTest unit tests, runs them, and ends
# with "N passed, N failed" (counted from gtest's JSON report); exits non-zero
# on a build error or any failure.
set -u
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
report=$(mktemp /tmp/bgupdate_core_tests.XXXXXX.json)
trap 'rm -f "$report"' EXIT

if ! make -C "$root/common" >&2 || ! make -C "$here" >&2; then
    echo "core: build failed"
    echo "0 passed, 1 failed"
    exit 1
fi

"$here/core_tests" --gtest_output="json:$report"
rc=$?
if [ ! -s "$report" ]; then
    echo "core: core_tests exited $rc without a report"
    echo "0 passed, 1 failed"
    exit 1
fi
counts=$(/usr/bin/python3 - "$report" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
# gtest counts disabled tests apart; a failed test has "failures".
failed = sum(1 for s in r["testsuites"] for t in s["testsuite"] if t.get("failures"))
ran = sum(1 for s in r["testsuites"] for t in s["testsuite"] if t.get("result", "COMPLETED") == "COMPLETED" and t.get("status", "RUN") == "RUN")
print(ran - failed, failed)
PY
)
read -r passed failed <<<"$counts"
echo "$passed passed, $failed failed"
[ "$rc" -eq 0 ] && [ "$failed" -eq 0 ]
