#!/usr/bin/env bash
# Installs the Debian packages a target needs, only those that are missing.
# Usage: install_deps.sh build|demo|deb|check
set -euo pipefail
build=(g++ make pkg-config libjansson-dev libsqlite3-dev sqlite3 python3 libpq-dev libcli11-dev libfmt-dev)
check_extra=(googletest libgtest-dev postgresql-15 postgresql-server-dev-15 postgresql-15-pgtap
             libtap-parser-sourcehandler-pgtap-perl libipc-run-perl python3-psycopg2
             postgresql-15-partman patroni etcd-server etcd-client)
# make deb (dpkg-buildpackage, debian/control's Build-Depends, lintian) and
# make check-deb (man for `man bgupdate`, sqlite3 and the server for the install test).
deb_extra=(build-essential dpkg-dev debhelper postgresql-server-dev-all postgresql-server-dev-15 lintian man-db
           postgresql-15)
case "${1:-build}" in
  build|demo) want=("${build[@]}") ;;
  deb) want=("${build[@]}" "${deb_extra[@]}") ;;
  check) want=("${build[@]}" "${check_extra[@]}" "${deb_extra[@]}") ;;
  *) echo "install_deps.sh: unknown target '$1' (build, demo, deb or check)" >&2; exit 2 ;;
esac
missing=()
for p in "${want[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -ne 0 ]; then
  echo "bgupdate: missing Debian packages: ${missing[*]}" >&2
  echo "bgupdate: run as root, or: sudo apt-get install -y ${missing[*]}" >&2
  exit 1
fi
echo "bgupdate: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq </dev/null
apt-get install -y -qq --no-install-recommends "${missing[@]}" </dev/null
