#!/usr/bin/env bash
# `make deb`: the Debian packages, built the Debian way (dpkg-buildpackage
# -us -uc -b with debian/rules: debhelper and pg_buildext) in a clean copy of
# the source tree, build/deb/bgupdate-VERSION/, so that no object file of a
# developer build ends up in a package and the results land in build/deb/
# (dpkg-buildpackage writes them next to the tree it builds). Then lintian
# on them, failing on errors (overridden tags are shown too, marked O:).
# JOBS (default 2) compile jobs.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
version=$(cat "$root/VERSION")
out=$root/build/deb
src=$out/bgupdate-$version
rm -rf "$out"
mkdir -p "$src"

# What a clean clone has, plus files not committed yet (never ignored ones).
if git -C "$root" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
  (cd "$root" && git ls-files -z --cached --others --exclude-standard |
     tar --null --ignore-failed-read -T - -cf - 2>/dev/null) | tar -C "$src" -xf -
else
  tar -C "$root" --exclude=./build --exclude=./.git -cf - . | tar -C "$src" -xf -
fi

cd "$src"
DEB_BUILD_OPTIONS="parallel=${JOBS:-2} ${DEB_BUILD_OPTIONS:-}" dpkg-buildpackage -us -uc -b
cd "$out"
echo "== packages (build/deb/)"
ls -l ./*.deb
echo "== lintian (every tag, info and overridden ones too)"
lintian --display-info --show-overrides ./*.changes || true
# The verdict: an error that is not overridden fails the build.
lintian --fail-on error ./*.changes >/dev/null || { echo "== lintian found errors" >&2; exit 1; }
echo "== lintian: no errors"
