# recon — PGXS build.  `make && make install`, then `make installcheck`
# (pg_regress on a temporary instance + TAP tests); see README.md.

EXTENSION   = recon
MODULE_big  = recon
DATA        = $(wildcard sql/recon--*.sql)
OBJS        = src/recon.o src/canonical.o src/target.o src/mongo_client.o \
              src/mapping.o src/docshape.o src/sweep.o src/recheck.o \
              src/repair.o src/diagnostics.o \
              src/decoder.o src/worker.o src/cdc.o src/cdc_admin.o src/cdc_decode.o src/audit.o src/cdcmsg.o \
              src/jsonbson.o src/sample.o src/coltype.o src/embed.o src/progress.o src/catalog.o src/ranges.o

PG_CONFIG  ?= pg_config

MONGOC_CFLAGS := $(shell pkg-config --cflags libmongoc-1.0)
MONGOC_LIBS   := $(shell pkg-config --libs libmongoc-1.0)

PG_CPPFLAGS = -I$(srcdir)/src $(MONGOC_CFLAGS)
PG_CFLAGS   = -Wall -Werror -Wno-declaration-after-statement
SHLIB_LINK  = $(MONGOC_LIBS)

# pg_regress: temporary instance with wal_level=logical and recon preloaded.
REGRESS      = setup canonical targets mappings types embed sweep repair audit roles security integrity badinput monitoring
REGRESS_OPTS = --temp-instance=tmp_check_regress \
               --temp-config=test/recon.conf --encoding=UTF8
TAP_TESTS    = 1

EXTRA_CLEAN = results tmp_check_regress tmp_check test/mongo_tool regression.diffs regression.out

PGXS := $(shell $(PG_CONFIG) --pgxs)
include $(PGXS)

# pg_regress's --temp-instance needs `make installcheck` to start it.  The
# tests need only RECON_TEST_MONGO_URI (a MongoDB server to use) in the
# environment; mongo_tool, which they run to seed and inspect collections,
# is built here and put on PATH.
installcheck: test/mongo_tool
export PATH := $(CURDIR)/test:$(PATH)

# The reference (doc/) and the monitoring files, in a directory of their own
# under $(pg_config --docdir)/extension (their names are not recon-specific).
RECON_DOCDIR = $(DESTDIR)$(docdir)/$(docmoduledir)/recon
install: install-recon-docs
install-recon-docs:
	$(MKDIR_P) '$(RECON_DOCDIR)'
	$(INSTALL_DATA) $(wildcard $(srcdir)/doc/*.md) $(srcdir)/monitoring/postgres_exporter.yml \
		$(srcdir)/monitoring/recon_alerts.yml '$(RECON_DOCDIR)'
uninstall: uninstall-recon-docs
uninstall-recon-docs:
	rm -rf '$(RECON_DOCDIR)'
.PHONY: install-recon-docs uninstall-recon-docs

test/mongo_tool: test/mongo_tool.c
	$(CC) -O2 -Wall -Werror -o $@ $< $(MONGOC_CFLAGS) $(MONGOC_LIBS)


# every subsystem includes the shared headers
$(OBJS): $(wildcard src/*.h)
