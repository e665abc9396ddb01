# bgupdate: background database migrations run inside PostgreSQL and SQLite.
#   make               build the core, the SQLite extension, the PostgreSQL extension and the tool
#   make install       install the PostgreSQL extension, the SQLite extension (where
#                      `.load bgupdate` / load_extension("bgupdate") find it), the tool and its man page
#   make demo          install what is missing, build, run the SQLite demo migration
#   make check         install what is missing, build, run every test suite
#   make installcheck  the suites that run against a running server (PGHOST, PGPORT, PGUSER)
#   make deb           Debian packages (dpkg-buildpackage in a clean copy) into build/deb/, then lintian
#   make check-deb     make deb, then install, use and purge the packages (test/packages/run.sh, root)
#   make bench         run the benchmarks (ratios against baselines measured in the same run)
#   make soak SECONDS=N [ENGINE=pg|sqlite|both]
#                      the randomized concurrency checker for about N seconds in all
#                      (both engines: half each), after building and installing as check does
# The one version is in VERSION; the build passes it on (common/version.cpp,
# pg_extension/bgupdate.control); debian/changelog and CHANGELOG.md must agree
# (test/tools/test_versions.py checks them all).
JOBS ?= 2

# Where the dynamic loader looks for a bare name: SQLite passes `bgupdate` to
# dlopen, and ldconfig does not cache files that are not named lib*.so, so
# /usr/local/lib would not do; the multiarch directory is searched by default.
SQLITE_EXT_DIR ?= /usr/lib/$(shell gcc -print-multiarch 2>/dev/null || echo x86_64-linux-gnu)
PREFIX ?= /usr/local
BINDIR ?= $(PREFIX)/bin
MANDIR ?= $(PREFIX)/share/man

all: sqlite pg tools

core:
	$(MAKE) -C common -j$(JOBS)

sqlite: core
	$(MAKE) -C sqlite_extension -j$(JOBS)

pg: core
	$(MAKE) -C pg_extension -j$(JOBS)

tools: core
	$(MAKE) -C tools -j$(JOBS)

install: install-pg install-sqlite install-tool

install-pg: pg
	$(MAKE) -C pg_extension install

install-sqlite: sqlite
	install -d $(DESTDIR)$(SQLITE_EXT_DIR)
	install -m 644 sqlite_extension/bgupdate.so $(DESTDIR)$(SQLITE_EXT_DIR)/bgupdate.so

install-tool: tools
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(MANDIR)/man1
	install -m 755 tools/bgupdate $(DESTDIR)$(BINDIR)/bgupdate
	install -m 644 tools/bgupdate.1 $(DESTDIR)$(MANDIR)/man1/bgupdate.1

deps-build:
	@scripts/install_deps.sh build
deps-check:
	@scripts/install_deps.sh check
deps-deb:
	@scripts/install_deps.sh deb

demo: deps-build
	$(MAKE) sqlite
	/usr/bin/python3 demo/sqlite_demo.py

check: deps-check
	$(MAKE) all
	$(MAKE) install
	test/check_all.sh

installcheck:
	test/pg/installcheck.sh

deb: deps-deb
	scripts/build_deb.sh

# Builds the packages itself (scripts/build_deb.sh), then installs, uses and removes them.
check-deb: deps-deb
	test/packages/run.sh

bench: deps-check
	$(MAKE) all install
	/usr/bin/python3 bench/sqlite_backfill.py
	bench/pg_backfill.sh
	bench/pg_foreground.sh
	bench/pg_fixed_range.sh

# The concurrency checker's long run (test/concurrency/checker.py); SEED=N replays a run.
SECONDS ?= 1800
ENGINE ?= both
soak: deps-check
	$(MAKE) all
	$(MAKE) install
	/usr/bin/python3 test/concurrency/checker.py --engine $(ENGINE) \
	  --seconds $$(( $(SECONDS) / $(if $(filter both,$(ENGINE)),2,1) )) $(if $(SEED),--seed $(SEED))

clean:
	$(MAKE) -C common clean
	$(MAKE) -C sqlite_extension clean
	$(MAKE) -C tools clean
	-$(MAKE) -C pg_extension clean
	rm -rf build

.PHONY: all core sqlite pg tools install install-pg install-sqlite install-tool deps-build deps-check deps-deb demo check installcheck deb check-deb bench soak clean
