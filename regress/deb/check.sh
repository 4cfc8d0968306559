#!/bin/sh
# The Debian package, end to end, on this machine (root; slow, so not in
# make check: make deb-check).  A copy of the tree is built with
# dpkg-buildpackage -us -uc -b, which must leave git status clean and
# give emailproxy_<version>_<arch>.deb; lintian reports no error or
# warning beyond debian/emailproxy.lintian-overrides; dpkg -i installs
# it (a policy-rc.d refuses service starts, so no daemon binds a port),
# with its files, the _emailproxy user (made by the postinst's
# systemd-sysusers, shown in a scratch root when the user exists
# already), the token store and the unit enabled, and emailproxy -n accepts /etc/emailproxy.conf; dpkg -r keeps
# the configuration and the token store; dpkg --purge leaves none of the
# package's files, no token store and no unit link.  The system user
# stays, as Debian keeps system users on purge.
top=$(cd "$(dirname "$0")/../.." && pwd)
rc=0

pass() { echo "PASS: $1"; }
fail() { echo "FAIL: $1: $2"; rc=1; }
note() { echo "# $*"; }
# check WHAT WHY command...: PASS when the command succeeds.
check() {
	what=$1; why=$2; shift 2
	if "$@" >/dev/null 2>&1; then pass "$what"; else fail "$what" "$why"; fi
}
installed() {
	dpkg-query -W -f '${Status}' emailproxy 2>/dev/null |
	    grep -q ' installed$'
}
known() { dpkg-query -W emailproxy >/dev/null 2>&1; }

if [ "$(id -u)" -ne 0 ]; then
	echo "FAIL: deb-check: must run as root (dpkg -i, dpkg --purge)"
	exit 1
fi
for t in dpkg-buildpackage dh lintian fakeroot; do
	if ! command -v "$t" >/dev/null 2>&1; then
		echo "FAIL: deb-check: $t missing (debhelper, dpkg-dev," \
		    "lintian, fakeroot: see regress/install-deps)"
		exit 1
	fi
done
# Never touch an emailproxy this machine runs.
if known; then
	echo "FAIL: deb-check: an emailproxy package is installed; the test" \
	    "installs and purges the package"
	exit 1
fi
for f in /etc/emailproxy.conf /usr/sbin/emailproxy; do
	if [ -e "$f" ]; then
		echo "FAIL: deb-check: $f exists (make install?); the test" \
		    "installs and purges the package, which would remove it"
		exit 1
	fi
done
# An empty token store, as a daemon run from the tree makes, is made
# again afterwards; one with records is not the test's to delete.
s=/var/lib/emailproxy
store=""
if [ -e "$s" ]; then
	if [ ! -d "$s" ] || [ -n "$(ls -A "$s")" ]; then
		echo "FAIL: deb-check: $s holds token records; the test" \
		    "installs and purges the package, which would delete them"
		exit 1
	fi
	store=$(stat -c '%u:%g %a' "$s")
fi

tmp=$(mktemp -d /tmp/emailproxy-deb.XXXXXX) || exit 1
policy=/usr/sbin/policy-rc.d
ours=0
saved=0
ours_installed=0
cleanup() {
	if [ $ours_installed -eq 1 ] && known; then
		dpkg --purge emailproxy >/dev/null 2>&1
	fi
	[ $ours -eq 1 ] && rm -f "$policy"
	[ $saved -eq 1 ] && mv "$tmp/policy-rc.d" "$policy"
	if [ -n "$store" ] && [ ! -e "$s" ]; then
		mkdir "$s" && chown "${store% *}" "$s" && chmod "${store#* }" "$s"
	fi
	if [ $rc -eq 0 ]; then
		rm -rf "$tmp"
	else
		echo "# logs kept in $tmp"
	fi
}
trap cleanup EXIT
trap 'exit 1' HUP INT TERM

# -- build a copy of the tree ---------------------------------------------
src=$tmp/src
mkdir "$src" || exit 1
if git -C "$top" rev-parse --git-dir >/dev/null 2>&1; then
	# The tracked and the new files as they are now, not the builds.
	(cd "$top" && git ls-files -z --cached --others --exclude-standard |
	    xargs -0 sh -c 'for f; do [ -e "$f" ] && printf "%s\n" "$f"; done' \
	    sh | tar -cf - -T -) | tar -C "$src" -xf - || exit 1
else
	(cd "$top" && tar --exclude=./obj --exclude=./obj-san \
	    --exclude=./obj-fuzz --exclude=./emailproxy \
	    --exclude=./emailproxyctl --exclude=./regress/tmp -cf - .) |
	    tar -C "$src" -xf - || exit 1
fi
gitclean=0
if command -v git >/dev/null 2>&1; then
	(cd "$src" && git init -q && git add -A &&
	    git -c user.name=deb-check -c user.email=deb-check@localhost \
	    commit -q -m tree) >/dev/null 2>&1 && gitclean=1
fi

version=$(cd "$src" && dpkg-parsechangelog -S Version)
upstream=${version%%-*}
arch=$(dpkg --print-architecture)
deb=$tmp/emailproxy_${version}_$arch.deb
if (cd "$src" && dpkg-buildpackage -us -uc -b) >"$tmp/build.log" 2>&1 &&
    [ -f "$deb" ]; then
	pass "dpkg-buildpackage -us -uc -b builds $(basename "$deb")"
else
	fail "dpkg-buildpackage -us -uc -b builds $(basename "$deb")" \
	    "$(tail -15 "$tmp/build.log")"
	exit 1
fi
if [ $gitclean -eq 1 ]; then
	st=$(cd "$src" && git status --porcelain)
	if [ -z "$st" ]; then
		pass "the build leaves git status clean"
	else
		fail "the build leaves git status clean" "$(echo "$st" | head)"
	fi
else
	note "git not installed: the tree's cleanliness after the build" \
	    "not checked"
fi

# -- lintian ----------------------------------------------------------------
lintian --fail-on error,warning "$deb" >"$tmp/lintian.log" 2>&1
st=$?
grep -v '^running with root privileges' "$tmp/lintian.log" | sed 's/^/# /'
if [ $st -eq 0 ] && ! grep -q '^[EW]: ' "$tmp/lintian.log"; then
	pass "lintian: no error, no warning beyond the overrides"
else
	fail "lintian: no error, no warning beyond the overrides" \
	    "status $st"
fi

# -- install ----------------------------------------------------------------
# The unit's start during the installation is refused, as invoke-rc.d
# and deb-systemd-invoke ask policy-rc.d first.  A policy-rc.d that
# allows it is put aside meanwhile.
if [ -e "$policy" ]; then
	"$policy" emailproxy.service start >/dev/null 2>&1
	if [ $? -eq 101 ]; then
		note "$policy refuses service starts already: used as it is"
	else
		mv "$policy" "$tmp/policy-rc.d" && saved=1
	fi
fi
if [ ! -e "$policy" ]; then
	printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod 0755 "$policy" &&
	    ours=1
fi
hadusr=0
getent passwd _emailproxy >/dev/null && hadusr=1
ours_installed=1
if dpkg -i "$deb" >"$tmp/install.log" 2>&1 && installed; then
	pass "dpkg -i installs the package"
else
	fail "dpkg -i installs the package" "$(tail -15 "$tmp/install.log")"
	exit 1
fi
dpkg -L emailproxy >"$tmp/files" 2>/dev/null

for f in /usr/sbin/emailproxy /usr/sbin/emailproxyctl; do
	check "$f installed, mode 755" "$(ls -l "$f" 2>&1)" \
	    sh -c "[ -x '$f' ] && [ \$(stat -c %a '$f') = 755 ]"
done
for f in /usr/share/man/man8/emailproxy.8.gz \
    /usr/share/man/man8/emailproxyctl.8.gz \
    /usr/share/man/man5/emailproxy.conf.5.gz \
    /lib/systemd/system/emailproxy.service \
    /usr/lib/sysusers.d/emailproxy.conf \
    /usr/lib/tmpfiles.d/emailproxy.conf \
    /usr/share/bash-completion/completions/emailproxyctl \
    /usr/share/doc/emailproxy/copyright \
    /usr/share/doc/emailproxy/examples/fail2ban/filter.d/emailproxy.conf \
    /usr/share/doc/emailproxy/examples/fail2ban/jail.d/emailproxy.local \
    /usr/share/doc/emailproxy/examples/logrotate/emailproxy; do
	check "$f installed" "missing" test -f "$f"
done
c=/etc/emailproxy.conf
check "$c installed, root's, mode 600" "$(ls -l "$c" 2>&1)" \
    sh -c "[ \"\$(stat -c '%U:%G %a' '$c')\" = 'root:root 600' ]"
check "$c is a conffile" \
    "$(dpkg-query -W -f '${Conffiles}' emailproxy 2>&1)" \
    sh -c "dpkg-query -W -f '\${Conffiles}\n' emailproxy |
	grep -q '^ /etc/emailproxy.conf '"
check "the system user _emailproxy exists" "no such user" \
    getent passwd _emailproxy
# The postinst creates it with systemd-sysusers and the installed entry;
# when it was here before, that is shown in a scratch root.
if [ $hadusr -eq 1 ]; then
	r=$tmp/sysroot
	mkdir -p "$r/etc" && touch "$r/etc/passwd" "$r/etc/group" \
	    "$r/etc/shadow" "$r/etc/gshadow"
	check "the postinst's systemd-sysusers creates _emailproxy (in a \
scratch root: the user existed here already)" \
	    "$(grep -h systemd-sysusers /var/lib/dpkg/info/emailproxy.postinst)" \
	    sh -c "grep -q '^ *systemd-sysusers .*emailproxy.conf' \
		/var/lib/dpkg/info/emailproxy.postinst &&
		systemd-sysusers --root='$r' /usr/lib/sysusers.d/emailproxy.conf &&
		grep -q '^_emailproxy:x:[0-9]*:[0-9]*:[^:]*:/nonexistent:' \
		'$r/etc/passwd'"
fi
check "$s is the token store: _emailproxy's, mode 700" "$(ls -ld "$s" 2>&1)" \
    sh -c "[ \"\$(stat -c '%U %a' '$s')\" = '_emailproxy 700' ]"
check "the unit is enabled" \
    "$(ls /etc/systemd/system/multi-user.target.wants 2>&1)" \
    test -L /etc/systemd/system/multi-user.target.wants/emailproxy.service
out=$(/usr/sbin/emailproxy -n -f /etc/emailproxy.conf 2>&1)
if [ $? -eq 0 ]; then
	pass "emailproxy -n -f /etc/emailproxy.conf accepts the configuration"
else
	fail "emailproxy -n -f /etc/emailproxy.conf" "$out"
fi
out=$(/usr/sbin/emailproxy -V 2>&1)
check "emailproxy -V prints the package's version" "$out" \
    test "$out" = "emailproxy $upstream"
running=""
for p in /proc/[0-9]*; do
	[ "$(readlink "$p/exe" 2>/dev/null)" = /usr/sbin/emailproxy ] &&
	    running="$running ${p#/proc/}"
done
check "no daemon was started while installing" "pids$running" \
    test -z "$running"

# -- remove, then purge -------------------------------------------------------
echo "stand-in record" >"$s/user%40example.com.json"
if dpkg -r emailproxy >"$tmp/remove.log" 2>&1; then
	pass "dpkg -r removes the package"
else
	fail "dpkg -r removes the package" "$(tail -5 "$tmp/remove.log")"
fi
check "dpkg -r keeps the token store and the configuration" \
    "$(ls -l "$s" "$c" 2>&1)" \
    test -f "$s/user%40example.com.json" -a -f "$c"
check "dpkg -r removes the programs" "$(ls -l /usr/sbin/emailproxy* 2>&1)" \
    test ! -e /usr/sbin/emailproxy -a ! -e /usr/sbin/emailproxyctl
if dpkg --purge emailproxy >"$tmp/purge.log" 2>&1 && ! known; then
	pass "dpkg --purge purges the package"
else
	fail "dpkg --purge purges the package" "$(tail -5 "$tmp/purge.log")"
fi
ours_installed=0
left=""
while read -r f; do
	# Directories other packages share (/usr, /etc; /lib a link) stay.
	[ -d "$f" ] && continue
	[ -e "$f" ] || [ -L "$f" ] && left="$left $f"
done <"$tmp/files"
for f in /etc/emailproxy.conf /var/lib/emailproxy /usr/share/doc/emailproxy \
    /etc/systemd/system/multi-user.target.wants/emailproxy.service \
    /var/lib/systemd/deb-systemd-helper-enabled/emailproxy.service.dsh-also \
    /var/lib/systemd/deb-systemd-helper-enabled/multi-user.target.wants/emailproxy.service; do
	[ -e "$f" ] || [ -L "$f" ] && left="$left $f"
done
if [ -z "$left" ] && [ -s "$tmp/files" ]; then
	pass "after the purge nothing is left: files, token store, unit links"
else
	fail "after the purge nothing is left" "left:$left"
fi
if getent passwd _emailproxy >/dev/null; then
	note "the system user _emailproxy is kept, as Debian keeps system" \
	    "users on purge"
fi
exit $rc
