#!/usr/bin/env bash
# bgupdate on a Patroni cluster: etcd and three PostgreSQL 15 nodes run by
# Patroni on loopback ports, started and torn down here (test_patroni.py says
# what is checked). Needs the Debian packages patroni, etcd-server and
# etcd-client, and bgupdate installed where PGBIN's server finds it
# (make install, or a private copy: scripts/private_pg.sh).
# Runs as the postgres user (in a temp dir it owns); every process the suite
# started is ended however it ends. Ends with "N passed, N failed".
#   test/cluster/run.sh        PGBIN=... BGUPDATE_CLUSTER_PORT_BASE=55300 KEEP_CLUSTER=1
set -u
here=$(cd "$(dirname "$0")" && pwd)
pgbin=${PGBIN:-/usr/lib/postgresql/15/bin}
base=${BGUPDATE_CLUSTER_PORT_BASE:-55300}  # uses base .. base+22
for tool in patroni patronictl etcd; do
  command -v "$tool" >/dev/null || { echo "cluster: $tool is missing (apt-get install patroni etcd-server etcd-client)"; echo "0 passed, 1 failed"; exit 1; }
done
[ -f "$("$pgbin/pg_config" --pkglibdir)/bgupdate.so" ] || { echo "cluster: bgupdate is not installed for $pgbin"; echo "0 passed, 1 failed"; exit 1; }

work=$(mktemp -d /tmp/bgupdate_cluster.XXXXXX)
cp "$here/patroni_cluster.py" "$here/test_patroni.py" "$work/"
if [ "$(id -u)" = 0 ]; then
  chown -R postgres: "$work"
  as_pg() { runuser -u postgres -- "$@"; }
else
  as_pg() { "$@"; }
fi
chmod 755 "$work"
# Last resort when the driver was killed or timed out: end what it started.
cleanup() {
  as_pg /usr/bin/python3 "$work/patroni_cluster.py" --cleanup "$work/run" "$pgbin" >/dev/null 2>&1 || true
  if [ -n "${KEEP_CLUSTER:-}" ]; then echo "# kept $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT
as_pg mkdir -p "$work/run"
start=$(date +%s)
as_pg env -i HOME="$work" PATH="/usr/local/bin:/usr/bin:/bin" LANG=C.UTF-8 \
  timeout --kill-after=20 "${CLUSTER_TIMEOUT:-900}" /usr/bin/python3 "$work/test_patroni.py" "$work/run" "$pgbin" "$base" \
  </dev/null 2>&1 | tee "$work/out.log"
rc=${PIPESTATUS[0]}
[ "$rc" -ne 124 ] && [ "$rc" -ne 137 ] || echo "# cluster suite timed out"
if ! grep -qE '^[0-9]+ passed, [0-9]+ failed' "$work/out.log"; then
  p=$(grep -cE '^ok [0-9]+' "$work/out.log"); n=$(grep -cE '^not ok [0-9]+' "$work/out.log")
  echo "$p passed, $((n + 1)) failed"
fi
echo "# cluster suite wall time $(( $(date +%s) - start ))s"
exit "$rc"
