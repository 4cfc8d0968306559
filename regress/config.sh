#!/bin/sh
# emailproxy -n: the Python proxy's sample and our example load, every
# regress/config/NAME.conf fails with exit 1 and the line in NAME.err,
# a --cache-store entry for an unknown account is only a warning.

top=${REGRESS_TOP:-$(cd "$(dirname "$0")/.." && pwd)}
bin=${EMAILPROXY:-$top/emailproxy}
tmp=${REGRESS_TMP:-/tmp}
rc=0

pass() { echo "PASS: $*"; }
fail() { echo "FAIL: $*"; rc=1; }

if [ ! -x "$bin" ]; then
	fail "no emailproxy binary at $bin"
	exit 1
fi

# run FILE [args]: sets out (stdout), err (stderr), st (exit status)
run() {
	f=$1; shift
	"$bin" -n -f "$f" "$@" >"$tmp/config.sh.out" 2>"$tmp/config.sh.err"
	st=$?
	out=$(cat "$tmp/config.sh.out")
	err=$(cat "$tmp/config.sh.err")
}

sample="$top/../shared/fixtures/python-proxy-sample.config"
run "$sample"
first=$(printf '%s\n' "$out" | head -n 1)
if [ $st -eq 0 ] && [ "$first" = "configuration OK: 6 servers, 11 accounts" ]
then
	pass "-n accepts the Python proxy's sample: $first"
else
	fail "-n on the Python sample: exit $st, \"$first\", $(printf '%s' "$err" | tail -n 2)"
fi

run "$sample" -v
if [ $st -eq 0 ] && printf '%s\n' "$out" | grep -qxF \
    'IMAP-1993: 127.0.0.1:1993 -> outlook.office365.com:993 (TLS)' &&
    printf '%s\n' "$out" | grep -qxF \
    'SMTP-1587: 127.0.0.1:1587 -> smtp-mail.outlook.com:587 (STARTTLS)' &&
    printf '%s\n' "$out" | grep -qxF 'dag.flow.configured.address@outlook.com: device'
then
	pass "-n -v lists servers and accounts"
else
	fail "-n -v on the Python sample: exit $st: $(printf '%s' "$out" | head -n 4)"
fi
if printf '%s\n%s\n' "$out" "$err" | grep -q 'your client secret'; then
	fail "-n -v shows a client secret"
else
	pass "-n -v shows no client secret"
fi

run "$top/etc/emailproxy.conf"
first=$(printf '%s\n' "$out" | head -n 1)
if [ $st -eq 0 ] && [ "$first" = "configuration OK: 3 servers, 1 account" ]
then
	pass "-n accepts etc/emailproxy.conf: $first"
else
	fail "-n on etc/emailproxy.conf: exit $st, \"$first\", $(printf '%s' "$err" | tail -n 2)"
fi

cd "$top/regress/config" || exit 1
for f in *.conf; do
	e=${f%.conf}.err
	[ -f "$e" ] || continue
	want=$(head -n 1 "$e")
	run "$f"
	if [ $st -eq 1 ] && printf '%s\n' "$err" | grep -qF -- "$want"; then
		pass "-n $f: exit 1, $want"
	else
		fail "-n $f: exit $st, wanted \"$want\", got: $(printf '%s' "$err" | head -n 3)"
	fi
done

cache="$tmp/config.sh.cache"
printf '[nobody@example.org]\naccess_token = x\n' >"$cache"
run "$top/etc/emailproxy.conf" --cache-store "$cache"
if [ $st -eq 0 ] && printf '%s\n' "$err" | grep -qF \
    "$cache:1: [nobody@example.org]: account not in"; then
	pass "--cache-store: an unknown account is a warning with file:line"
else
	fail "--cache-store with an unknown account: exit $st: $(printf '%s' "$err" | head -n 3)"
fi
rm -f "$cache" "$tmp/config.sh.out" "$tmp/config.sh.err"
exit $rc
