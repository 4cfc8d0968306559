#!/bin/sh
# emailproxy -n: a configuration in the Python proxy's format
# (regress/fixtures/python-proxy-sample.conf) and our example load,
# every regress/config/NAME.conf fails with exit 78 (EX_CONFIG) and the line in
# NAME.err, a --cache-store file adds its accounts, and one for an
# unknown account is only a warning.

top=${REGRESS_TOP:-$(cd "$(dirname "$0")/.." && pwd)}
bin=${EMAILPROXY:-$top/emailproxy}
fixtures="$top/regress/fixtures"
# Scratch files in a directory of our own, never the runner's files.
work=$(mktemp -d "${REGRESS_TMP:-/tmp}/config.XXXXXX") || exit 1
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
	"$bin" -n -f "$f" "$@" >"$work/stdout" 2>"$work/stderr"
	st=$?
	out=$(cat "$work/stdout")
	err=$(cat "$work/stderr")
}

# File paths in a configuration are absolute: put this tree's in.
sample="$work/python-proxy-sample.conf"
sed "s|@FIXTURES@|$fixtures|g" "$fixtures/python-proxy-sample.conf" \
    >"$sample"
run "$sample"
first=$(printf '%s\n' "$out" | head -n 1)
if [ $st -eq 0 ] && [ "$first" = "configuration OK: 9 servers, 14 accounts" ]
then
	pass "-n accepts the Python-format sample: $first"
else
	fail "-n on the Python-format sample: exit $st, \"$first\", $(printf '%s' "$err" | tail -n 2)"
fi
if printf '%s\n' "$err" | grep -qF \
    "[your.office365.or.outlook.address@example.com]: client_id still holds the sample text"
then
	pass "-n warns about the account still holding the sample text"
else
	fail "-n gave no sample-text warning: $(printf '%s' "$err" | head -n 3)"
fi

run "$sample" -v
for want in \
    'IMAP-1993: 127.0.0.1:1993 -> outlook.office365.com:993 (TLS)' \
    'SMTP-1587: 127.0.0.1:1587 -> smtp-mail.outlook.com:587 (STARTTLS)' \
    'IMAP-2993: 127.0.0.1:2993 (local STARTTLS) -> imap.gmail.com:993 (TLS)' \
    'POP-2995: localhost:2995 (local TLS) -> pop.gmail.com:995 (TLS)' \
    'SMTP-2465: [::1]:2465 (local STARTTLS) -> smtp.gmail.com:465 (TLS)' \
    'IMAP-3143: [::]:3143 (local STARTTLS) -> imap.example.net:143 (STARTTLS)' \
    'POP-3110: 127.0.0.1:3110 -> pop.example.net:110 (STARTTLS)' \
    'your.email@gmail.com: authorization_code, cached tokens to import' \
    'your.email@yahoo.co.uk: authorization_code' \
    'dag.flow.configured.address@outlook.com: device' \
    'ccg.flow.configured.address@your-tenant.com: client_credentials' \
    'ropcg.flow.resource.configured.address@your-tenant.com: password' \
    'service.account.accessible.address@your-domain.org: service_account' \
    '@your-tenant.net: client_credentials (catch-all)' \
    'boss@your-tenant.net: client_credentials' \
    '@: unset (catch-all)'; do
	if [ $st -eq 0 ] && printf '%s\n' "$out" | grep -qxF -- "$want"; then
		pass "-n -v lists \"$want\""
	else
		fail "-n -v on the sample: exit $st, no line \"$want\""
	fi
done
if printf '%s\n%s\n' "$out" "$err" | grep -q -e 'GOCSPX-' -e 'fixture-.*-secret' \
    -e 'PRIVATE KEY' -e 'gAAAAA' -e 'your client secret'; then
	fail "-n -v shows a client secret, key or cached token"
else
	pass "-n -v shows no client secret, key or cached token"
fi

run "$sample" --cache-store "$fixtures/python-proxy-cache.conf" -v
first=$(printf '%s\n' "$out" | head -n 1)
if [ $st -eq 0 ] && [ "$first" = "configuration OK: 9 servers, 15 accounts" ] &&
    printf '%s\n' "$out" | grep -qxF \
    'ropcg.flow.scope.configured.address@your-tenant.com: password, cached tokens to import' &&
    printf '%s\n' "$out" | grep -qxF \
    'new.user@your-tenant.net: client_credentials, cached tokens to import'
then
	pass "--cache-store: cached tokens merged, a catch-all account added"
else
	fail "--cache-store on the sample: exit $st, \"$first\", $(printf '%s' "$err" | tail -n 2)"
fi

# Without the paths put in, a missing file is named by file, line, key.
run "$fixtures/python-proxy-sample.conf"
if [ $st -eq 78 ] && printf '%s\n' "$err" | grep -qF \
    "python-proxy-sample.conf:50: local_certificate_path: @FIXTURES@/fixture-cert.pem: No such file or directory"
then
	pass "-n names a missing local_certificate_path by file:line"
else
	fail "-n on relative paths: exit $st: $(printf '%s' "$err" | head -n 3)"
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
	if [ $st -eq 78 ] && printf '%s\n' "$err" | grep -qF -- "$want"; then
		pass "-n $f: exit 78, $want"
	else
		fail "-n $f: exit $st, wanted \"$want\", got: $(printf '%s' "$err" | head -n 3)"
	fi
done

cache="$work/cache"
printf '[nobody@example.org]\naccess_token = x\n' >"$cache"
run "$top/etc/emailproxy.conf" --cache-store "$cache"
if [ $st -eq 0 ] && printf '%s\n' "$err" | grep -qF \
    "$cache:1: [nobody@example.org]: account not in"; then
	pass "--cache-store: an unknown account is a warning with file:line"
else
	fail "--cache-store with an unknown account: exit $st: $(printf '%s' "$err" | head -n 3)"
fi
rm -rf "$work"
exit $rc
