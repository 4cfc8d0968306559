#!/bin/sh
# make install lays out the expected tree under DESTDIR: the programs,
# the man pages, the sample configuration (0600, never overwritten),
# the systemd unit (paths substituted), sysusers.d and tmpfiles.d
# entries, the bash completion and the examples; make uninstall removes
# each of those files and the examples' directories, but keeps an
# emailproxy.conf that differs from the sample.  Installed without DESTDIR into a scratch root, the unit
# passes systemd-analyze verify and its systemd-analyze security
# exposure stays at most 2.3 (the figure is printed).  2.3 is what a
# unit that can start takes: chroot is in @mount (0.2) and tokend opens
# the 0700 store as root (CAP_DAC_READ_SEARCH, 0.2).
top=${REGRESS_TOP:-$(cd "$(dirname "$0")/.." && pwd)}
tmp=${REGRESS_TMP:-/tmp}/install
bindir=${BINDIR:-.}
emailproxy=${EMAILPROXY:-$top/$bindir/emailproxy}
emailproxyctl=${EMAILPROXYCTL:-$top/$bindir/emailproxyctl}
rc=0

pass() { echo "PASS: $1"; }
fail() { echo "FAIL: $1: $2"; rc=1; }
# check WHAT WHY command...: PASS when the command succeeds.
check() {
	what=$1; why=$2; shift 2
	if "$@" >/dev/null 2>&1; then pass "$what"; else fail "$what" "$why"; fi
}
mode() { stat -c %a "$1" 2>/dev/null; }
# make install with the build of this test run (SANITIZE comes along).
install_to() {
	make -s --no-print-directory -C "$top" install "$@" \
	    >"$tmp/make.log" 2>&1
}

rm -rf "$tmp"
mkdir -p "$tmp" || exit 1

# -- DESTDIR, PREFIX=/usr -------------------------------------------------
D=$tmp/destdir
if install_to DESTDIR="$D" PREFIX=/usr; then
	pass "make install DESTDIR=... PREFIX=/usr succeeds"
else
	fail "make install DESTDIR=... PREFIX=/usr" "$(tail -5 "$tmp/make.log")"
fi
unit=usr/lib/systemd/system/emailproxy.service
want="etc/emailproxy.conf
usr/lib/systemd/system/emailproxy.service
usr/lib/sysusers.d/emailproxy.conf
usr/lib/tmpfiles.d/emailproxy.conf
usr/sbin/emailproxy
usr/sbin/emailproxyctl
usr/share/bash-completion/completions/emailproxyctl
usr/share/examples/emailproxy/fail2ban/filter.d/emailproxy.conf
usr/share/examples/emailproxy/fail2ban/jail.d/emailproxy.local
usr/share/examples/emailproxy/logrotate/emailproxy
usr/share/man/man5/emailproxy.conf.5
usr/share/man/man8/emailproxy.8
usr/share/man/man8/emailproxyctl.8"
have=$(cd "$D" 2>/dev/null && find . -type f | sed 's|^\./||' | LC_ALL=C sort)
if [ "$have" = "$want" ]; then
	pass "the installed tree has exactly the expected files"
else
	fail "the installed tree has exactly the expected files" \
	    "$(echo "$have" | tr '\n' ' ')"
fi
for p in emailproxy emailproxyctl; do
	eval "built=\$$p"
	check "usr/sbin/$p is the built program, mode 555" \
	    "mode $(mode "$D/usr/sbin/$p")" \
	    sh -c "cmp -s '$built' '$D/usr/sbin/$p' && \
		[ \$(stat -c %a '$D/usr/sbin/$p') = 555 ]"
done
for m in man5/emailproxy.conf.5 man8/emailproxy.8 man8/emailproxyctl.8; do
	check "usr/share/man/$m installed, mode 444" \
	    "mode $(mode "$D/usr/share/man/$m")" \
	    sh -c "cmp -s '$top/$(basename $m)' '$D/usr/share/man/$m' && \
		[ \$(stat -c %a '$D/usr/share/man/$m') = 444 ]"
done
conf=$D/etc/emailproxy.conf
check "etc/emailproxy.conf is the sample, mode 600" "mode $(mode "$conf")" \
    sh -c "cmp -s '$top/etc/emailproxy.conf' '$conf' && \
	[ \$(stat -c %a '$conf') = 600 ]"
check "the unit starts /usr/sbin/emailproxy with /etc/emailproxy.conf" \
    "$(grep '^Exec' "$D/$unit" | tr '\n' ' ')" \
    grep -qx 'ExecStart=/usr/sbin/emailproxy -d -f /etc/emailproxy.conf' \
    "$D/$unit"
check "no @VARIABLE@ is left in the unit" \
    "$(grep -n '@[A-Z]*@' "$D/$unit")" \
    sh -c "! grep -q '@[A-Z][A-Z]*@' '$D/$unit'"
check "the unit does not restart after exit 78 (a configuration error)" \
    "$(grep -n 'Restart' "$D/$unit")" \
    sh -c "sed -n '/^\[Service\]/,/^\[/p' '$D/$unit' | \
	grep -qx 'RestartPreventExitStatus=78'"
check "the unit limits its starts (StartLimitIntervalSec, StartLimitBurst)" \
    "$(grep -n 'StartLimit' "$D/$unit")" \
    sh -c "sed -n '/^\[Unit\]/,/^\[/p' '$D/$unit' | \
	grep -Eq '^StartLimitIntervalSec=[1-9]' && \
	sed -n '/^\[Unit\]/,/^\[/p' '$D/$unit' | \
	grep -Eq '^StartLimitBurst=[1-9]'"
lr=$D/usr/share/examples/emailproxy/logrotate/emailproxy
check "the logrotate example signals SIGUSR2 after the rename, no copytruncate" \
    "$(cat "$lr" 2>&1)" \
    sh -c "sed -n '/^[^#].*{/,/^}/p' '$lr' | \
	sed -n '/postrotate/,/endscript/p' | grep -q 'USR2' && \
	! grep -q '^[^#]*copytruncate' '$lr'"
check "sysusers.d entry creates _emailproxy" \
    "$(cat "$D/usr/lib/sysusers.d/emailproxy.conf" 2>&1)" \
    grep -q '^u _emailproxy ' "$D/usr/lib/sysusers.d/emailproxy.conf"
check "tmpfiles.d entry makes the token store 0700 _emailproxy" \
    "$(cat "$D/usr/lib/tmpfiles.d/emailproxy.conf" 2>&1)" \
    grep -Eq '^d /var/lib/emailproxy 0700 _emailproxy ' \
    "$D/usr/lib/tmpfiles.d/emailproxy.conf"

# A second install keeps a configuration the administrator changed.
echo "# changed by the administrator" >>"$conf"
cp "$conf" "$tmp/conf.changed"
chmod 640 "$conf"
if install_to DESTDIR="$D" PREFIX=/usr &&
    cmp -s "$conf" "$tmp/conf.changed" && [ "$(mode "$conf")" = 640 ] &&
    grep -q "keeping existing" "$tmp/make.log"; then
	pass "a second make install keeps the changed emailproxy.conf"
else
	fail "a second make install keeps the changed emailproxy.conf" \
	    "$(tail -3 "$tmp/make.log")"
fi

check "the bash completion of emailproxyctl is installed" \
    "$(ls -l "$D/usr/share/bash-completion/completions" 2>&1)" \
    cmp -s "$top/etc/bash-completion/emailproxyctl" \
    "$D/usr/share/bash-completion/completions/emailproxyctl"

# make uninstall: every file install put, except the changed
# configuration; the examples' directories, not the shared ones.
uninstall_from() {
	make -s --no-print-directory -C "$top" uninstall "$@" \
	    >"$tmp/make.log" 2>&1
}
if uninstall_from DESTDIR="$D" PREFIX=/usr; then
	pass "make uninstall DESTDIR=... PREFIX=/usr succeeds"
else
	fail "make uninstall DESTDIR=... PREFIX=/usr" "$(tail -5 "$tmp/make.log")"
fi
have=$(cd "$D" && find . -type f | sed 's|^\./||' | LC_ALL=C sort)
if [ "$have" = "etc/emailproxy.conf" ] && cmp -s "$conf" "$tmp/conf.changed" &&
    grep -q "keeping changed" "$tmp/make.log"; then
	pass "make uninstall removes every file but the changed emailproxy.conf"
else
	fail "make uninstall removes every file but the changed emailproxy.conf" \
	    "$(echo "$have" | tr '\n' ' ')"
fi
check "make uninstall removes the examples directory" \
    "$(find "$D/usr/share/examples" 2>&1 | tr '\n' ' ')" \
    test ! -e "$D/usr/share/examples/emailproxy"
check "make uninstall keeps the shared directories" \
    "$(ls -d "$D/usr/sbin" "$D/usr/share/man/man8" 2>&1)" \
    test -d "$D/usr/sbin" -a -d "$D/usr/share/man/man8"
# Installed again unchanged, uninstall takes the sample configuration.
D2=$tmp/destdir2
install_to DESTDIR="$D2" PREFIX=/usr
if uninstall_from DESTDIR="$D2" PREFIX=/usr &&
    [ -z "$(find "$D2" -type f)" ]; then
	pass "make uninstall removes an unchanged emailproxy.conf: no file left"
else
	fail "make uninstall removes an unchanged emailproxy.conf: no file left" \
	    "$(find "$D2" -type f | tr '\n' ' ')"
fi

# -- a scratch root without DESTDIR: the unit's paths exist ---------------
R=$tmp/root
if install_to PREFIX="$R/usr" SYSCONFDIR="$R/etc"; then
	pass "make install PREFIX=... SYSCONFDIR=... succeeds"
else
	fail "make install PREFIX=... SYSCONFDIR=..." "$(tail -5 "$tmp/make.log")"
fi
U=$R/$unit
check "the unit names the installed program and configuration" \
    "$(grep '^ExecStart' "$U")" \
    grep -qx "ExecStart=$R/usr/sbin/emailproxy -d -f $R/etc/emailproxy.conf" \
    "$U"
out=$("$R/usr/sbin/emailproxyctl" -s "$tmp/none.sock" show accounts 2>&1)
if [ $? -eq 1 ] && echo "$out" | grep -q "not running"; then
	pass "the installed emailproxyctl runs"
else
	fail "the installed emailproxyctl runs" "$out"
fi

if ! command -v systemd-analyze >/dev/null 2>&1; then
	echo "# systemd-analyze not installed: unit verify and security" \
	    "exposure not checked"
	exit $rc
fi
# Documentation= is checked with man(1) when there is one.
manopt=--man=yes
command -v man >/dev/null 2>&1 || manopt=--man=no
out=$(MANPATH="$R/usr/share/man" systemd-analyze verify $manopt "$U" 2>&1)
if [ $? -eq 0 ] && [ -z "$out" ]; then
	pass "systemd-analyze verify passes on the installed unit"
else
	fail "systemd-analyze verify on the installed unit" "$out"
fi
out=$(systemd-analyze security --offline=true "$U" 2>&1)
level=$(echo "$out" | sed -n \
    's/.*Overall exposure level for emailproxy.service: \([0-9.]*\).*/\1/p')
echo "# systemd-analyze security: overall exposure ${level:-unknown}"
if [ -n "$level" ] && awk -v l="$level" 'BEGIN { exit !(l <= 2.3) }'; then
	pass "systemd-analyze security exposure $level <= 2.3"
else
	fail "systemd-analyze security exposure <= 2.3" \
	    "${level:-no figure}: $(echo "$out" | grep '✗' | head -5)"
fi
exit $rc
