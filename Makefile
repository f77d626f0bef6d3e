# ragd build. `make` builds build/release/ragd; `make asan` the sanitizer build;
# `make run` installs deps, builds, initialises ./data with demo data and serves;
# `make test` installs deps, builds both flavours and runs every test.

CC       ?= cc
PKGS     := libmicrohttpd jansson sqlite3 libcrypto libcurl libpq hiredis libpcre2-8 libutf8proc libcrypt zlib
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   := $(shell pkg-config --libs $(PKGS) 2>/dev/null)
MUPDF_LIBS := $(shell pkg-config --libs --static mupdf 2>/dev/null) -lharfbuzz -lfreetype

WARN     := -Wall -Wextra -Werror -Wno-unused-parameter -Wno-missing-field-initializers -Wformat=2 -Wvla
BASE_CFLAGS := -std=gnu11 -D_GNU_SOURCE -g -pthread -Isrc $(WARN) $(PKG_CFLAGS)
LDLIBS   := $(PKG_LIBS) $(MUPDF_LIBS) -lm -pthread

FLAVOUR  ?= release
ifeq ($(FLAVOUR),asan)
  OPT := -O1 -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=all
  LDOPT := -fsanitize=address,undefined
else ifeq ($(FLAVOUR),fuzz)
  CC := clang
  OPT := -O1 -g -fno-omit-frame-pointer -fsanitize=fuzzer-no-link,address,undefined -Wno-missing-field-initializers
  LDOPT := -fsanitize=fuzzer,address,undefined
else
  OPT := -O2
  LDOPT :=
endif
B := build/$(FLAVOUR)

LIB_SRCS := $(shell find src -name '*.c' ! -path src/main.c | sort)
LIB_OBJS := $(LIB_SRCS:%.c=$(B)/%.o)
UNIT_SRCS := $(wildcard tests/unit/*.c) $(wildcard tests/engine/*.c)
UNIT_BINS := $(UNIT_SRCS:%.c=$(B)/%)

# The inference engine is hot code: build it with more optimisation in every flavour (and the
# engine's tools, which time and drive it, alike).
$(B)/src/engine/%.o: OPT += -O3
$(B)/src/tools/%.o: OPT += -O3

.PHONY: all asan release deps run test unit-bins fuzz-bins clean fuzz bench format install uninstall
all: release
release:
	@$(MAKE) --no-print-directory FLAVOUR=release build/release/ragd
asan:
	@$(MAKE) --no-print-directory FLAVOUR=asan build/asan/ragd

$(B)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(BASE_CFLAGS) $(OPT) -MMD -MP -c $< -o $@

$(B)/libragd.a: $(LIB_OBJS)
	@rm -f $@
	ar rcsT $@ $^

$(B)/ragd: $(B)/src/main.o $(B)/libragd.a
	$(CC) $(OPT) $(LDOPT) -o $@ $^ $(LDLIBS)

# One binary per unit-test file, linked against the library (a test may #include the .c under test).
$(B)/tests/%: tests/%.c $(B)/libragd.a
	@mkdir -p $(dir $@)
	$(CC) $(BASE_CFLAGS) $(OPT) $(LDOPT) -MMD -MP -o $@ $< $(B)/libragd.a $(LDLIBS) -lcmocka

unit-bins: $(UNIT_BINS)

# libFuzzer drivers (FLAVOUR=fuzz): one binary per fuzz/*.c, linked against the library.
FUZZ_BINS := $(patsubst fuzz/%.c,$(B)/fuzz/%,$(wildcard fuzz/*.c))
$(B)/fuzz/%: fuzz/%.c $(B)/libragd.a
	@mkdir -p $(dir $@)
	$(CC) $(BASE_CFLAGS) $(OPT) $(LDOPT) -o $@ $< $(B)/libragd.a $(LDLIBS)
fuzz-bins: $(FUZZ_BINS)

deps:
	@scripts/deps.sh

run: deps release
	@build/release/ragd init --data ./data >/dev/null
	@build/release/ragd seed --demo --data ./data
	build/release/ragd serve --data ./data

test: deps
	@scripts/test.sh

fuzz:
	@scripts/fuzz.sh

# `make install [PREFIX=/usr/local] [DESTDIR=...]`: the release binary, the web UI where the
# binary finds it without WEB_DIR ($(PREFIX)/share/ragd/web), the docs, the systemd unit (its
# ExecStart pointed at the installed binary) and the configuration example.
PREFIX     ?= /usr/local
BINDIR     ?= $(PREFIX)/bin
DATADIR    ?= $(PREFIX)/share
DOCDIR     ?= $(DATADIR)/doc/ragd
SYSCONFDIR ?= $(if $(filter /usr,$(PREFIX)),/etc,$(PREFIX)/etc)
UNITDIR    ?= $(PREFIX)/lib/systemd/system
install: release
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(DATADIR)/ragd $(DESTDIR)$(DOCDIR)/kb \
	    $(DESTDIR)$(SYSCONFDIR)/ragd $(DESTDIR)$(UNITDIR)
	install -m 0755 build/release/ragd $(DESTDIR)$(BINDIR)/ragd
	rm -rf $(DESTDIR)$(DATADIR)/ragd/web
	cp -R web $(DESTDIR)$(DATADIR)/ragd/web
	chmod -R u=rwX,go=rX $(DESTDIR)$(DATADIR)/ragd/web
	install -m 0644 README.md docs/*.md $(DESTDIR)$(DOCDIR)/
	install -m 0644 docs/kb/*.md $(DESTDIR)$(DOCDIR)/kb/
	install -m 0644 .env.example $(DESTDIR)$(SYSCONFDIR)/ragd/ragd.env.example
	sed -e 's|/usr/local/bin/ragd|$(BINDIR)/ragd|g' -e 's|/etc/ragd/|$(SYSCONFDIR)/ragd/|g' \
	    packaging/ragd.service >$(DESTDIR)$(UNITDIR)/ragd.service
	chmod 0644 $(DESTDIR)$(UNITDIR)/ragd.service

# Removes what install put there (not /etc/ragd/ragd.env, nor the data directory).
uninstall:
	rm -f $(DESTDIR)$(BINDIR)/ragd $(DESTDIR)$(UNITDIR)/ragd.service \
	    $(DESTDIR)$(SYSCONFDIR)/ragd/ragd.env.example
	rm -rf $(DESTDIR)$(DATADIR)/ragd $(DESTDIR)$(DOCDIR)
	-rmdir $(DESTDIR)$(SYSCONFDIR)/ragd 2>/dev/null

clean:
	rm -rf build

format:
	clang-format -i $$(git ls-files "*.c" "*.h")

-include $(shell find build -name '*.d' 2>/dev/null)
