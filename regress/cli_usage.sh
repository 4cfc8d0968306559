#!/bin/sh
# -V and --version print the name and the version of common/emailproxy.h
# (which debian/changelog carries too) and exit 0; -h and --help print
# the usage on stdout and exit 0; a usage error prints one line on
# stderr naming the mistake and pointing to -h, nothing on stdout, and
# exits 1 (emailproxy) or 2 (emailproxyctl).
top=${REGRESS_TOP:-$(cd "$(dirname "$0")/.." && pwd)}
tmp=${REGRESS_TMP:-/tmp}/cli_usage
emailproxy=${EMAILPROXY:-$top/emailproxy}
emailproxyctl=${EMAILPROXYCTL:-$top/emailproxyctl}
rc=0

pass() { echo "PASS: $1"; }
fail() { echo "FAIL: $1: $2"; rc=1; }

rm -rf "$tmp"
mkdir -p "$tmp" || exit 1

# run PROGRAM ARGS...: status in $st, output in $tmp/out and $tmp/err.
run() {
	"$@" >"$tmp/out" 2>"$tmp/err" </dev/null
	st=$?
}
lines() { wc -l <"$1" | tr -d ' '; }

version=$(sed -n 's/^#define EMAILPROXY_VERSION[	 ]*"\(.*\)"$/\1/p' \
    "$top/common/emailproxy.h")
if [ -n "$version" ]; then
	pass "common/emailproxy.h defines the version ($version)"
else
	fail "common/emailproxy.h defines the version" "no EMAILPROXY_VERSION"
fi
deb=$(sed -n '1s/^emailproxy (\([^)-]*\)\(-[^)]*\)\{0,1\}).*/\1/p' \
    "$top/debian/changelog" 2>/dev/null)
if [ "$deb" = "$version" ]; then
	pass "debian/changelog's upstream version is the programs' ($deb)"
else
	fail "debian/changelog's upstream version is the programs'" \
	    "changelog '$deb', header '$version'"
fi

for prog in emailproxy emailproxyctl; do
	eval "bin=\$$prog"
	for opt in -V --version; do
		run "$bin" $opt
		if [ $st -eq 0 ] && [ "$(cat "$tmp/out")" = "$prog $version" ] &&
		    [ ! -s "$tmp/err" ]; then
			pass "$prog $opt prints '$prog $version', exit 0"
		else
			fail "$prog $opt prints '$prog $version', exit 0" \
			    "status $st, '$(cat "$tmp/out" "$tmp/err")'"
		fi
	done
	for opt in -h --help; do
		run "$bin" $opt
		if [ $st -eq 0 ] && head -1 "$tmp/out" | grep -q "^usage: $prog " &&
		    grep -q "^       $prog -h | -V\$" "$tmp/out" &&
		    [ ! -s "$tmp/err" ]; then
			pass "$prog $opt prints the usage on stdout, exit 0"
		else
			fail "$prog $opt prints the usage on stdout, exit 0" \
			    "status $st, '$(cat "$tmp/out" "$tmp/err")'"
		fi
	done
done
run "$emailproxyctl" --help
if grep -q "hash-password" "$tmp/out" && grep -q "show accounts" "$tmp/out"
then
	pass "emailproxyctl --help lists the commands"
else
	fail "emailproxyctl --help lists the commands" "$(cat "$tmp/out")"
fi

# usage_error STATUS NAMED PROGRAM ARGS...: one line on stderr that
# holds NAMED and "PROGRAM -h", nothing on stdout, exit STATUS.
usage_error() {
	want=$1 named=$2 prog=$(basename "$3")
	shift 2
	run "$@"
	shift
	what="$prog $*: one line naming '$named', exit $want"
	if [ $st -eq "$want" ] && [ ! -s "$tmp/out" ] &&
	    [ "$(lines "$tmp/err")" = 1 ] &&
	    grep -qF -- "$named" "$tmp/err" &&
	    grep -q "^$prog: .*$prog -h" "$tmp/err"; then
		pass "$what"
	else
		fail "$what" "status $st, '$(cat "$tmp/out" "$tmp/err")'"
	fi
}
usage_error 1 "unknown option -x" "$emailproxy" -x
usage_error 1 "unknown option -x" "$emailproxy" -dx
usage_error 1 "unknown option --no-such-option" "$emailproxy" \
    --no-such-option
usage_error 1 "unknown option --version=2" "$emailproxy" --version=2
usage_error 1 "missing argument to -f" "$emailproxy" -f
usage_error 1 "missing argument to --log-file" "$emailproxy" -d --log-file
usage_error 1 "unexpected argument extra" "$emailproxy" -d extra
usage_error 2 "unknown option -x" "$emailproxyctl" -x show accounts
usage_error 2 "unknown option --json" "$emailproxyctl" --json
usage_error 2 "missing argument to -s" "$emailproxyctl" -s
usage_error 2 "no command" "$emailproxyctl" -j
usage_error 2 "unknown command frob" "$emailproxyctl" frob
usage_error 2 "show takes accounts" "$emailproxyctl" show nothing
usage_error 2 "show takes accounts" "$emailproxyctl" show
usage_error 2 "forget takes an account" "$emailproxyctl" forget
usage_error 2 "authorise takes an account" "$emailproxyctl" authorise
usage_error 2 "reload takes no argument" "$emailproxyctl" reload now
usage_error 2 "log takes verbose or brief" "$emailproxyctl" log loud
usage_error 2 "hash-password takes [-b | -s] [-a file user]" "$emailproxyctl" \
    hash-password -x
exit $rc
