#!/usr/bin/env bash
# Runs every test suite, each of which ends its output with a line
# "N passed, N failed", and prints one summary line across all of them.
# A suite that crashes or prints no such line counts as one failure.
set -u
cd "$(dirname "$0")/.."
mkdir -p build/logs
suites=(
  "core:test/core/run.sh"
  "sqlite:test/sqlite/run.sh"
  "node:test/node/run.sh"
  "tools:test/tools/run.sh"
  "docs:test/docs/run.sh"
  "postgres:test/pg/run.sh"
  "postgres-tap:test/pg/tap/run.sh"
  "cluster:test/cluster/run.sh"
  "concurrency:test/concurrency/run.sh"
  # Last: it installs the Debian packages system-wide over what `make install`
  # put there (moved aside, then put back), so no other suite runs meanwhile.
  "packages:test/packages/run.sh"
)
total_pass=0; total_fail=0; status=0
recap=()
for entry in "${suites[@]}"; do
  name=${entry%%:*}; cmd=${entry#*:}
  log=build/logs/$name.log
  echo "=== suite $name ($cmd)"
  if [ ! -x "$cmd" ]; then
    echo "suite $name: $cmd is missing"; total_fail=$((total_fail+1)); status=1
    recap+=("$name: missing"); continue
  fi
  "$cmd" </dev/null 2>&1 | tee "$log"
  rc=${PIPESTATUS[0]}
  line=$(grep -E '^([A-Za-z_-]+: )?[0-9]+ passed, [0-9]+ failed' "$log" | tail -n 1)
  if [ -z "$line" ]; then
    echo "suite $name: exit $rc and no summary line"; total_fail=$((total_fail+1)); status=1
    recap+=("$name: exit $rc, no summary line (see $log)"); continue
  fi
  p=$(sed -E 's/^([A-Za-z_-]+: )?([0-9]+) passed, ([0-9]+) failed.*/\2/' <<<"$line")
  f=$(sed -E 's/^([A-Za-z_-]+: )?([0-9]+) passed, ([0-9]+) failed.*/\3/' <<<"$line")
  total_pass=$((total_pass+p)); total_fail=$((total_fail+f))
  if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then total_fail=$((total_fail+1)); fi
  [ "$rc" -ne 0 ] || [ "$f" -ne 0 ] && status=1
  echo "=== suite $name: $p passed, $f failed (exit $rc)"
  recap+=("$name: $p passed, $f failed (exit $rc)")
  # The failures' own lines, so that the end of the output names them.
  if [ "$f" -ne 0 ] || [ "$rc" -ne 0 ]; then
    while IFS= read -r failed; do recap+=("    $failed"); done \
      < <(grep -E '^ *not ok|FAILED|^FAIL|^replay |^   \[.*\] [0-9]+ time' "$log" | head -n 15)
  fi
done
# Each suite's result again, last, with the first failures it printed: whoever
# reads only the end of a long run sees where it failed.
echo "=== summary by suite"
printf '%s\n' "${recap[@]}"
echo "$total_pass passed, $total_fail failed"
exit $status
