# devroulette: devrouletted(8), devroulettectl(8), devroulette(1).
#
#   make			build bin/
#   make check		every test, plain and under ASan+UBSan, then lint
#   make SAN=1 BUILD=build/asan	a sanitiser build (used by check)
#   make lint		cppcheck and clang's static analyzer
#   make bench		the benchmark ladder (bench/README.md), minutes
#   make fuzz		libFuzzer harnesses, FUZZ_SECONDS each (fuzz/README.md)
#   make install	PREFIX=/usr/local DESTDIR=: the programs, the manual, etc/ as
#			examples in EXAMPLEDIR (the unit and rc.d script name
#			SBINDIR), /var/lib/devroulette and /var/empty

CC?=		cc
PREFIX?=	/usr/local
BINDIR?=	$(PREFIX)/bin
SBINDIR?=	$(PREFIX)/sbin
MANDIR?=	$(PREFIX)/share/man
EXAMPLEDIR?=	$(PREFIX)/share/examples/devroulette
DEFAULT_URL?=	ws://127.0.0.1:8787

BUILD?=		build/plain
BIN?=		$(if $(filter build/plain,$(BUILD)),bin,$(BUILD)/bin)

PKGS=		libevent openssl yajl libseccomp libbsd-overlay
PKG_CFLAGS:=	$(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS:=	$(shell pkg-config --libs $(PKGS) 2>/dev/null)

WARN=		-Wall -Wextra -Werror -Wshadow -Wpointer-arith \
		-Wmissing-prototypes -Wstrict-prototypes -Wformat=2 \
		-Wno-unused-parameter
CFLAGS?=	-O2 -g
CFLAGS+=	-std=gnu11 $(WARN) -D_GNU_SOURCE -Icommon -Idaemon -Irelay \
		-Imatcher -Iclient $(PKG_CFLAGS) \
		-DDEFAULT_URL='"$(DEFAULT_URL)"'
LDLIBS+=	$(PKG_LIBS)

ifeq ($(SAN),1)
CFLAGS+=	-fsanitize=address,undefined -fno-omit-frame-pointer \
		-fno-sanitize-recover=all -DDR_SANITIZE
LDFLAGS+=	-fsanitize=address,undefined
endif
ifeq ($(TESTHOOKS),1)
CFLAGS+=	-DDR_TESTHOOKS
endif

COMMON_SRCS=	$(wildcard common/*.c)
DAEMON_SRCS=	$(filter-out daemon/devrouletted.c,$(wildcard daemon/*.c))
RELAY_SRCS=	$(wildcard relay/*.c)
MATCHER_SRCS=	$(wildcard matcher/*.c)
CLIENT_SRCS=	$(filter-out client/devroulette.c,$(wildcard client/*.c))
CTL_SRCS=	$(wildcard ctl/*.c)
UNIT_SRCS=	$(wildcard regress/unit/test_*.c)

objs=		$(patsubst %.c,$(BUILD)/%.o,$(1))
LIBCOMMON=	$(BUILD)/libcommon.a
LIBDAEMON=	$(BUILD)/libdaemon.a
SERVER_LIBS=	$(BUILD)/librelay.a $(BUILD)/libmatcher.a $(LIBDAEMON) \
		$(LIBCOMMON)
UNIT_BINS=	$(patsubst regress/unit/%.c,$(BUILD)/tests/%,$(UNIT_SRCS))
TEST_LIBS=	$(SERVER_LIBS) $(if $(CLIENT_SRCS),$(BUILD)/libclient.a)

PROGS=		$(BIN)/devrouletted
ifneq ($(wildcard client/devroulette.c),)
PROGS+=		$(BIN)/devroulette
endif
ifneq ($(CTL_SRCS),)
PROGS+=		$(BIN)/devroulettectl
endif

all: $(PROGS)

$(BUILD)/%.o: %.c common/common.h daemon/devrouletted.h $(wildcard */*.h)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c -o $@ $<

$(LIBCOMMON): $(call objs,$(COMMON_SRCS))
$(LIBDAEMON): $(call objs,$(DAEMON_SRCS))
$(BUILD)/librelay.a: $(call objs,$(RELAY_SRCS))
$(BUILD)/libmatcher.a: $(call objs,$(MATCHER_SRCS))
$(BUILD)/libclient.a: $(call objs,$(CLIENT_SRCS))
$(BUILD)/%.a:
	@mkdir -p $(dir $@)
	rm -f $@
	ar rcs $@ $^

$(BIN)/devrouletted: $(BUILD)/daemon/devrouletted.o $(SERVER_LIBS)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $< -Wl,--start-group $(SERVER_LIBS) \
	    -Wl,--end-group $(LDLIBS)

$(BIN)/devroulette: $(BUILD)/client/devroulette.o $(BUILD)/libclient.a \
    $(LIBCOMMON)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS) -lncursesw

$(BIN)/devroulettectl: $(call objs,$(CTL_SRCS)) $(LIBCOMMON)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/tests/%: $(BUILD)/regress/unit/%.o $(BUILD)/regress/unit/unit.o \
    $(TEST_LIBS)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $< $(BUILD)/regress/unit/unit.o \
	    -Wl,--start-group $(TEST_LIBS) -Wl,--end-group $(LDLIBS)

unit: $(UNIT_BINS)

check:
	sh tools/check.sh

demo:
	sh tools/demo.sh

lint:
	sh tools/lint.sh

# The benchmark ladder against devrouletted, the Node peer and the floor
# (bench/README.md): a few minutes, and not part of check.
DRLOAD=		$(BUILD)/bench/drload
bench: $(BIN)/devrouletted $(DRLOAD)
	DRLOAD=$(DRLOAD) sh bench/run.sh

$(DRLOAD): $(call objs,$(wildcard bench/*.c)) $(LIBCOMMON)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

.PHONY: bench

install: all
	install -d $(DESTDIR)$(SBINDIR) $(DESTDIR)$(BINDIR) \
	    $(DESTDIR)$(MANDIR)/man1 $(DESTDIR)$(MANDIR)/man7 \
	    $(DESTDIR)$(MANDIR)/man8
	install -m 0755 $(BIN)/devrouletted $(DESTDIR)$(SBINDIR)/
	$(if $(wildcard $(BIN)/devroulettectl),install -m 0755 \
	    $(BIN)/devroulettectl $(DESTDIR)$(SBINDIR)/)
	$(if $(wildcard $(BIN)/devroulette),install -m 0755 \
	    $(BIN)/devroulette $(DESTDIR)$(BINDIR)/)
	for m in $(wildcard man/*.[178]); do \
		install -m 0644 $$m $(DESTDIR)$(MANDIR)/man$${m##*.}/; \
	done
	install -d $(DESTDIR)$(EXAMPLEDIR)/rc.d
	install -m 0644 etc/devrouletted.env etc/Caddyfile \
	    $(DESTDIR)$(EXAMPLEDIR)/
	for f in devrouletted.service rc.d/devrouletted; do \
		sed 's,/usr/local/sbin/,$(SBINDIR)/,g' etc/$$f \
		    >$(DESTDIR)$(EXAMPLEDIR)/$$f && \
		chmod 0644 $(DESTDIR)$(EXAMPLEDIR)/$$f || exit 1; \
	done
	# STATE_DIR's default, and the empty root the children chroot to.
	install -d -m 0755 $(DESTDIR)/var/lib/devroulette $(DESTDIR)/var/empty

include fuzz/fuzz.mk

clean:
	rm -rf build bin

.PHONY: all unit check demo lint clean install
.SECONDARY:
