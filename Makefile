# emailproxy: one make builds everything, make check runs regress/.
#
#   make                 build emailproxy and emailproxyctl
#   make check           build, then run every test in regress/
#   make config-golden   rewrite the golden emailproxy -n -v outputs
#   make SANITIZE=1 ...  the same with AddressSanitizer and UBSan (in obj-san/)
#   make fuzz            libFuzzer harnesses (obj-fuzz/); FUZZ_SECONDS=N runs them
#   make install         PREFIX=/usr/local DESTDIR=
#   make uninstall       the same variables: removes what install put
#   make deb-check       build, install and purge the Debian package (root)
#   make bench           the benchmarks (root, bench/README); bench-quick: short

PREFIX ?=	/usr/local
SBINDIR ?=	$(PREFIX)/sbin
MANDIR ?=	$(PREFIX)/share/man
SYSCONFDIR ?=	/etc
DESTDIR ?=

CC ?=		cc
PKG_CONFIG ?=	pkg-config
ifeq ($(shell uname),OpenBSD)
# pledge(2) and unveil(2) in place of libseccomp; libc has the BSD
# functions (setproctitle, strlcpy, ...) and crypt(3).
PKGS =		libtls libevent libcurl jansson libssl libcrypto hiredis
LIBCRYPT =
else
PKGS =		libtls libevent libcurl jansson libbsd-overlay libssl libcrypto \
		libseccomp hiredis
LIBCRYPT =	-lcrypt
endif

CFLAGS ?=	-O2 -g
CFLAGS +=	-std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror \
		-Wmissing-prototypes -Wshadow -Wpointer-arith -Wno-unused-parameter \
		-Icommon $(shell $(PKG_CONFIG) --cflags $(PKGS))
LDLIBS +=	$(shell $(PKG_CONFIG) --libs $(PKGS)) $(LIBCRYPT)

ifeq ($(SANITIZE),1)
OBJDIR =	obj-san
BINDIR =	obj-san
# GCC leaves float-cast-overflow out of "undefined": name it.
CFLAGS +=	-fsanitize=address,undefined,float-cast-overflow \
		-fno-omit-frame-pointer \
		-fno-sanitize-recover=undefined,float-cast-overflow -DSANITIZE
LDFLAGS +=	-fsanitize=address,undefined,float-cast-overflow
else
OBJDIR =	obj
BINDIR =	.
endif

ifeq ($(SANDBOX_DEBUG),1)
CFLAGS +=	-DSANDBOX_DEBUG
endif

COMMON_SRCS =	$(sort $(wildcard common/*.c))
DAEMON_SRCS =	$(sort $(wildcard parent/*.c proxy/*.c tokend/*.c authd/*.c \
		    control/*.c))
CTL_SRCS =	$(sort $(wildcard ctl/*.c))
UNIT_SRCS =	$(sort $(wildcard regress/unit/*_test.c))

COMMON_OBJS =	$(COMMON_SRCS:%.c=$(OBJDIR)/%.o)
DAEMON_OBJS =	$(DAEMON_SRCS:%.c=$(OBJDIR)/%.o)
CTL_OBJS =	$(CTL_SRCS:%.c=$(OBJDIR)/%.o)
UNIT_BINS =	$(UNIT_SRCS:regress/unit/%.c=$(OBJDIR)/regress/%)

# A unit test links only the sources named on its " * DEPS:" line.
unit_deps =	$(patsubst %.c,$(OBJDIR)/%.o,$(shell sed -n \
		    's/^ \* DEPS: *//p' $(1)))

PROGS =		$(BINDIR)/emailproxy
ifneq ($(CTL_SRCS),)
PROGS +=	$(BINDIR)/emailproxyctl
endif

MAN8 =		emailproxy.8 $(wildcard emailproxyctl.8)
MAN5 =		emailproxy.conf.5

all: $(PROGS)

$(OBJDIR)/%.o: %.c $(wildcard common/*.h */*.h)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -I$(dir $<) -c -o $@ $<

$(BINDIR)/emailproxy: $(COMMON_OBJS) $(DAEMON_OBJS)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BINDIR)/emailproxyctl: $(COMMON_OBJS) $(CTL_OBJS)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

# Objects only tests link (a shared mock) are kept, not rebuilt each time.
.SECONDARY:

.SECONDEXPANSION:
$(OBJDIR)/regress/%: regress/unit/%.c $$(call unit_deps,regress/unit/$$*.c)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -Iparent -Iproxy -Itokend -Iauthd -Icontrol $(LDFLAGS) \
	    -o $@ $< $(call unit_deps,$<) $(LDLIBS)

# Fuzzing (HACKING): make fuzz builds the libFuzzer harnesses
# regress/fuzz/*_fuzz.c with clang into obj-fuzz/ and runs each for
# FUZZ_SECONDS on a scratch copy of its corpus; make check replays the
# corpora through the same harnesses built with $(CC).
FUZZ_CC ?=	clang
FUZZ_SECONDS ?=	0
FUZZ_OBJDIR =	obj-fuzz
FUZZ_SAN =	-fsanitize=address,undefined -fno-sanitize-recover=undefined
FUZZ_CFLAGS =	-O1 -g -fno-omit-frame-pointer $(FUZZ_SAN) -DSANITIZE \
		$(filter-out -O2,$(CFLAGS))
FUZZ_SRCS =	$(sort $(wildcard regress/fuzz/*_fuzz.c))
FUZZ_NAMES =	$(FUZZ_SRCS:regress/fuzz/%_fuzz.c=%)
FUZZ_BINS =	$(FUZZ_NAMES:%=$(FUZZ_OBJDIR)/%_fuzz)
REPLAY_BINS =	$(FUZZ_NAMES:%=$(OBJDIR)/regress/fuzz/%_replay)
fuzz_deps =	$(patsubst %.c,$(2)/%.o,$(shell sed -n \
		    's/^ \* DEPS: *//p' $(1)) regress/fuzz/fuzz_common.c)

$(FUZZ_OBJDIR)/%.o: %.c $(wildcard common/*.h */*.h regress/*/*.h)
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link -I$(dir $<) \
	    -c -o $@ $<

$(FUZZ_OBJDIR)/%_fuzz: regress/fuzz/%_fuzz.c \
    $$(call fuzz_deps,regress/fuzz/$$*_fuzz.c,$(FUZZ_OBJDIR))
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer -Iparent -Iproxy -Itokend \
	    -Iauthd -Icontrol -o $@ $< $(call fuzz_deps,$<,$(FUZZ_OBJDIR)) $(LDLIBS)

$(OBJDIR)/regress/fuzz/%_replay: regress/fuzz/%_fuzz.c \
    $(OBJDIR)/regress/fuzz/replay_main.o \
    $$(call fuzz_deps,regress/fuzz/$$*_fuzz.c,$(OBJDIR))
	$(CC) $(CFLAGS) -Iparent -Iproxy -Itokend -Iauthd -Icontrol $(LDFLAGS) -o $@ \
	    $< $(OBJDIR)/regress/fuzz/replay_main.o \
	    $(call fuzz_deps,$<,$(OBJDIR)) $(LDLIBS)

replay: $(REPLAY_BINS)

fuzz: $(FUZZ_BINS)
	@if [ "$(FUZZ_SECONDS)" -gt 0 ]; then \
		FUZZ_SECONDS=$(FUZZ_SECONDS) FUZZ_OBJDIR=$(FUZZ_OBJDIR) \
		    sh regress/fuzz/run.sh $(FUZZ_TARGETS); \
	fi

unit: $(UNIT_BINS)

check: all unit replay
	BINDIR=$(BINDIR) OBJDIR=$(OBJDIR) SANITIZE=$(SANITIZE) \
	    sh regress/run $(TESTS)

# Rewrite regress/config/*.nv, the golden emailproxy -n -v output.
config-golden: all
	sh regress/config_golden.sh -u

bench: all
	sh bench/run

bench-quick: all
	sh bench/run --quick

lint:
	mandoc -Tlint -Wwarning $(MAN5) $(MAN8)

UNITDIR ?=	$(PREFIX)/lib/systemd/system
SYSUSERSDIR ?=	$(PREFIX)/lib/sysusers.d
TMPFILESDIR ?=	$(PREFIX)/lib/tmpfiles.d
EXAMPLESDIR ?=	$(PREFIX)/share/examples/emailproxy
BASHCOMPDIR ?=	$(PREFIX)/share/bash-completion/completions
EXAMPLES =	fail2ban/filter.d/emailproxy.conf \
		fail2ban/jail.d/emailproxy.local logrotate/emailproxy

# Always rebuilt: PREFIX or SYSCONFDIR may differ from the last install.
$(OBJDIR)/emailproxy.service: etc/emailproxy.service.in FORCE
	@mkdir -p $(OBJDIR)
	sed -e 's|@SBINDIR@|$(SBINDIR)|g' -e 's|@SYSCONFDIR@|$(SYSCONFDIR)|g' \
	    etc/emailproxy.service.in > $@

FORCE:

install: all $(OBJDIR)/emailproxy.service
	install -d $(DESTDIR)$(SBINDIR) $(DESTDIR)$(MANDIR)/man5 \
	    $(DESTDIR)$(MANDIR)/man8 $(DESTDIR)$(SYSCONFDIR)
	install -m 0555 $(PROGS) $(DESTDIR)$(SBINDIR)/
	install -m 0444 $(MAN5) $(DESTDIR)$(MANDIR)/man5/
	install -m 0444 $(MAN8) $(DESTDIR)$(MANDIR)/man8/
	for f in $(EXAMPLES); do \
		install -d $(DESTDIR)$(EXAMPLESDIR)/$${f%/*} && \
		install -m 0444 etc/$$f $(DESTDIR)$(EXAMPLESDIR)/$$f || exit 1; \
	done
	install -d $(DESTDIR)$(BASHCOMPDIR)
	install -m 0444 etc/bash-completion/emailproxyctl $(DESTDIR)$(BASHCOMPDIR)/
	@if [ -e $(DESTDIR)$(SYSCONFDIR)/emailproxy.conf ]; then \
		echo "keeping existing $(DESTDIR)$(SYSCONFDIR)/emailproxy.conf"; \
	else \
		install -m 0600 etc/emailproxy.conf \
		    $(DESTDIR)$(SYSCONFDIR)/emailproxy.conf; \
	fi
ifeq ($(shell uname),OpenBSD)
	install -d $(DESTDIR)$(SYSCONFDIR)/rc.d
	install -m 0555 etc/rc.d/emailproxy $(DESTDIR)$(SYSCONFDIR)/rc.d/
else
	install -d $(DESTDIR)$(UNITDIR) $(DESTDIR)$(SYSUSERSDIR) \
	    $(DESTDIR)$(TMPFILESDIR)
	install -m 0444 $(OBJDIR)/emailproxy.service $(DESTDIR)$(UNITDIR)/
	install -m 0444 etc/emailproxy.sysusers \
	    $(DESTDIR)$(SYSUSERSDIR)/emailproxy.conf
	install -m 0444 etc/emailproxy.tmpfiles \
	    $(DESTDIR)$(TMPFILESDIR)/emailproxy.conf
endif

# Removes what install put, except an emailproxy.conf that differs from
# the sample (it is the administrator's); directories only when empty.
uninstall:
	rm -f $(patsubst %,$(DESTDIR)$(SBINDIR)/%,$(notdir $(PROGS))) \
	    $(MAN5:%=$(DESTDIR)$(MANDIR)/man5/%) \
	    $(MAN8:%=$(DESTDIR)$(MANDIR)/man8/%) \
	    $(EXAMPLES:%=$(DESTDIR)$(EXAMPLESDIR)/%) \
	    $(DESTDIR)$(BASHCOMPDIR)/emailproxyctl
ifeq ($(shell uname),OpenBSD)
	rm -f $(DESTDIR)$(SYSCONFDIR)/rc.d/emailproxy
else
	rm -f $(DESTDIR)$(UNITDIR)/emailproxy.service \
	    $(DESTDIR)$(SYSUSERSDIR)/emailproxy.conf \
	    $(DESTDIR)$(TMPFILESDIR)/emailproxy.conf
endif
	rmdir $(sort $(dir $(EXAMPLES:%=$(DESTDIR)$(EXAMPLESDIR)/%))) \
	    $(DESTDIR)$(EXAMPLESDIR)/fail2ban $(DESTDIR)$(EXAMPLESDIR) \
	    2>/dev/null || true
	@if cmp -s etc/emailproxy.conf $(DESTDIR)$(SYSCONFDIR)/emailproxy.conf; \
	then \
		rm -f $(DESTDIR)$(SYSCONFDIR)/emailproxy.conf; \
	elif [ -e $(DESTDIR)$(SYSCONFDIR)/emailproxy.conf ]; then \
		echo "keeping changed $(DESTDIR)$(SYSCONFDIR)/emailproxy.conf"; \
	fi

# Slow, and installs on this machine: not part of check.
deb-check:
	sh regress/deb/check.sh

clean:
	rm -rf obj obj-san obj-fuzz emailproxy emailproxyctl regress/tmp

.PHONY: all unit replay fuzz check config-golden bench bench-quick lint \
	install uninstall deb-check \
	clean FORCE
