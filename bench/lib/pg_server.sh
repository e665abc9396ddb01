# Sourced by the PostgreSQL benchmarks: one throwaway server in a temp folder
# (as the postgres user when run as root), tuned alike for every benchmark.
# Sets: pgbin, dir, port, as_pg, stop_server, psql_ (database bench), now, calc.
# bench_init_server PREFIX [extra postgresql.conf lines...] runs initdb.
pgbin=${PGBIN:-/usr/lib/postgresql/15/bin}
port=${BENCH_PORT:-$((20000 + RANDOM % 10000))}
if [ "$(id -u)" = 0 ]; then as_pg() { runuser -u postgres -- "$@"; }
else as_pg() { "$@"; }; fi

bench_init_server() {
  dir=$(mktemp -d "/tmp/$1.XXXXXX")
  shift
  [ "$(id -u)" != 0 ] || chown postgres: "$dir"
  chmod 755 "$dir"
  as_pg "$pgbin/initdb" -D "$dir/data" -A trust -N >"$dir/initdb.log" 2>&1 || { cat "$dir/initdb.log"; exit 1; }
  {
    printf '%s\n' "listen_addresses = ''" "unix_socket_directories = '$dir'" "port = $port" \
      "shared_buffers = 256MB" "max_wal_size = 8GB" "checkpoint_timeout = 30min" \
      "shared_preload_libraries = 'bgupdate'"
    printf '%s\n' "$@"
  } >>"$dir/data/postgresql.conf"
}

stop_server() { as_pg "$pgbin/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null 2>&1 || true; }
export PGOPTIONS='-c client_min_messages=warning'
psql_() { as_pg "$pgbin/psql" -XAtq -v ON_ERROR_STOP=1 -h "$dir" -p "$port" -d bench "$@"; }
now() { date +%s.%N; }
calc() { awk "BEGIN { print ($1) }"; }
