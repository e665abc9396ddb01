#!/usr/bin/env bash
# Makes a private, relocated copy of Debian's PostgreSQL 15 (binaries, share,
# server headers) under DIR, so that an extension can be installed and tested
# there without touching the system's copy (several checkouts built side by
# side would otherwise overwrite each other's `make install`).
#   scripts/private_pg.sh DIR
# then: make -C pg_extension install PG_CONFIG=DIR/lib/postgresql/15/bin/pg_config
#       PGBIN=DIR/lib/postgresql/15/bin test/pg/run.sh   (test/pg/tap/run.sh, test/tools/run.sh)
# PostgreSQL finds its share and lib directories relative to its binaries.
set -euo pipefail
D=${1:?usage: scripts/private_pg.sh DIR}
mkdir -p "$D/lib/postgresql" "$D/share/postgresql" "$D/include"
cp -a /usr/lib/postgresql/15 "$D/lib/postgresql/"
cp -a /usr/share/postgresql/15 "$D/share/postgresql/"
cp -a /usr/include/postgresql "$D/include/"
chmod -R a+rX "$D"
"$D/lib/postgresql/15/bin/pg_config" --pkglibdir
