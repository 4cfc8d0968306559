#!/bin/sh
# The OpenBSD side of the platform code compiles: the files that differ
# between Linux and OpenBSD, compiled with the host compiler as OpenBSD
# would see them (__OpenBSD__ defined, __linux__ not) against
# regress/openbsd/compat.h, which declares pledge(2), unveil(2) and the
# other OpenBSD calls glibc lacks and poisons prctl(2) and libseccomp.
# The OpenBSD branch must really be there: pledge and unveil calls in
# platform_openbsd.c, the parent's sandbox_parent() call, no /proc path.
# Only these files: the rest of the tree is not checked for OpenBSD.

top=${REGRESS_TOP:-$(cd "$(dirname "$0")/.." && pwd)}
cd "$top" || exit 1
CC=${CC:-cc}
PKG_CONFIG=${PKG_CONFIG:-pkg-config}
rc=0

pass() { echo "PASS: $*"; }
fail() { echo "FAIL: $*"; rc=1; }

pkgs=$($PKG_CONFIG --cflags libtls libevent libcurl jansson libcrypto) || {
	fail "pkg-config --cflags for the libraries"
	exit 1
}
obsd="-std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -Wmissing-prototypes
    -Wshadow -Wpointer-arith -Wno-unused-parameter -Icommon $pkgs
    -U__linux__ -U__linux -Ulinux -U__gnu_linux__ -D__OpenBSD__
    -include regress/openbsd/compat.h"
files="common/platform_openbsd.c common/platform_linux.c common/sandbox.c
    common/proc.c parent/main.c parent/children.c parent/parent.c
    control/control.c"

for f in $files; do
	# shellcheck disable=SC2086
	if out=$($CC -fsyntax-only $obsd -I"$(dirname "$f")" "$f" 2>&1); then
		pass "$f compiles as OpenBSD"
	else
		fail "$f compiles as OpenBSD: $(echo "$out" | grep -m 1 error)"
	fi
done

# What the compiler sees, to know the OpenBSD code is not #ifdef'd away.
# shellcheck disable=SC2086
pre=$($CC -E $obsd common/platform_openbsd.c 2>/dev/null)
check_pre() {
	if echo "$pre" | grep -a -q "$1"; then
		pass "$2"
	else
		fail "$2: not in the preprocessed file"
	fi
}
check_pre 'pledge *("stdio' "platform_openbsd.c calls pledge as OpenBSD"
check_pre 'unveil *("/"' "platform_openbsd.c calls unveil as OpenBSD"
for fn in platform_self platform_title_init platform_nodump sandbox_proxy \
    sandbox_tokend sandbox_authd sandbox_control sandbox_parent; do
	check_pre "^$fn *(" "platform_openbsd.c defines $fn as OpenBSD"
done
# shellcheck disable=SC2086
if $CC -E $obsd -Iparent parent/parent.c 2>/dev/null |
    grep -a -q 'sandbox_parent *( *) *;'; then
	pass "the parent calls sandbox_parent() on OpenBSD"
else
	fail "the parent calls sandbox_parent() on OpenBSD: no call"
fi
if grep -n '"/proc' common/platform_openbsd.c >/dev/null; then
	fail "platform_openbsd.c names no /proc path:" \
	    "$(grep -n '"/proc' common/platform_openbsd.c | head -1)"
else
	pass "platform_openbsd.c names no /proc path"
fi
# And the Linux build still has none of it.
# shellcheck disable=SC2086
if $CC -E -std=c11 -D_GNU_SOURCE -Icommon $pkgs common/platform_openbsd.c \
    2>/dev/null | grep -a -q 'pledge *("'; then
	fail "platform_openbsd.c is empty on Linux: it calls pledge"
else
	pass "platform_openbsd.c is empty on Linux"
fi
exit $rc
