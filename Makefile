# bgupdate: background database migrations run inside PostgreSQL and SQLite.
#   make          build the core, the SQLite extension and the PostgreSQL extension
#   make demo     install what is missing, build, run the SQLite demo migration
#   make check    install what is missing, build, run every test suite
#   make bench    run the benchmarks (ratios against baselines measured in the same run)
JOBS ?= 2

all: sqlite pg

core:
	$(MAKE) -C common -j$(JOBS)

sqlite: core
	$(MAKE) -C sqlite_extension -j$(JOBS)

pg: core
	$(MAKE) -C pg_extension -j$(JOBS)

install: pg
	$(MAKE) -C pg_extension install

deps-build:
	@scripts/install_deps.sh build
deps-check:
	@scripts/install_deps.sh check

demo: deps-build
	$(MAKE) sqlite
	/usr/bin/python3 demo/sqlite_demo.py

check: deps-check
	$(MAKE) all
	$(MAKE) install
	test/check_all.sh

bench: deps-check
	$(MAKE) all install
	/usr/bin/python3 bench/sqlite_backfill.py
	bench/pg_backfill.sh
	bench/pg_foreground.sh

clean:
	$(MAKE) -C common clean
	$(MAKE) -C sqlite_extension clean
	-$(MAKE) -C pg_extension clean
	rm -rf build

.PHONY: all core sqlite pg install deps-build deps-check demo check bench clean
