# bgupdate: background database migrations run inside PostgreSQL and SQLite.
#   make          build the core, the SQLite extension, the PostgreSQL extension and the tool
#   make install  install the PostgreSQL extension, the SQLite extension (where
#                 `.load bgupdate` / load_extension("bgupdate") find it) and the tool
#   make demo     install what is missing, build, run the SQLite demo migration
#   make check    install what is missing, build, run every test suite
#   make bench    run the benchmarks (ratios against baselines measured in the same run)
JOBS ?= 2

# Where the dynamic loader looks for a bare name: SQLite passes `bgupdate` to
# dlopen, and ldconfig does not cache files that are not named lib*.so, so
# /usr/local/lib would not do; the multiarch directory is searched by default.
SQLITE_EXT_DIR ?= /usr/lib/$(shell gcc -print-multiarch 2>/dev/null || echo x86_64-linux-gnu)
BINDIR ?= /usr/local/bin

all: sqlite pg tools

core:
	$(MAKE) -C common -j$(JOBS)

sqlite: core
	$(MAKE) -C sqlite_extension -j$(JOBS)

pg: core
	$(MAKE) -C pg_extension -j$(JOBS)

tools: core
	$(MAKE) -C tools -j$(JOBS)

install: pg sqlite tools
	$(MAKE) -C pg_extension install
	install -d $(DESTDIR)$(SQLITE_EXT_DIR) $(DESTDIR)$(BINDIR)
	install -m 755 sqlite_extension/bgupdate.so $(DESTDIR)$(SQLITE_EXT_DIR)/bgupdate.so
	install -m 755 tools/bgupdate $(DESTDIR)$(BINDIR)/bgupdate

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
	bench/pg_fixed_range.sh

clean:
	$(MAKE) -C common clean
	$(MAKE) -C sqlite_extension clean
	$(MAKE) -C tools clean
	-$(MAKE) -C pg_extension clean
	rm -rf build

.PHONY: all core sqlite pg tools install deps-build deps-check demo check bench clean
