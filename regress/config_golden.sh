#!/bin/sh
# emailproxy -n -v against golden output: every regress/config/NAME.conf
# that loads (no NAME.err) has NAME.nv, what -n -v prints (stdout, then
# stderr); regress/fixtures/python-proxy-sample.conf has
# regress/config/python-proxy-sample.nv.  No output holds a secret
# value of its configuration (client_secret, client_secret_encrypted,
# cached tokens and salt, local_password hash) nor a private key.
#
# With -u the .nv files are written instead (make config-golden).

top=${REGRESS_TOP:-$(cd "$(dirname "$0")/.." && pwd)}
bin=${EMAILPROXY:-$top/emailproxy}
dir="$top/regress/config"
fixtures="$top/regress/fixtures"
update=0
[ "$1" = "-u" ] && update=1
work=$(mktemp -d "${REGRESS_TMP:-/tmp}/config_golden.XXXXXX") || exit 1
rc=0

pass() { echo "PASS: $*"; }
fail() { echo "FAIL: $*"; rc=1; }

if [ ! -x "$bin" ]; then
	fail "no emailproxy binary at $bin"
	exit 1
fi

# The CA bundle is the one the test names, never the machine's.
SSL_CERT_FILE=keypair.crt
SSL_CERT_DIR=
export SSL_CERT_FILE SSL_CERT_DIR

# nv CONF: -n -v on CONF, run in regress/config, into $work/out, with
# the scratch and fixture directories written as placeholders.
nv() {
	(cd "$dir" && "$bin" -n -v -f "$1" >"$work/stdout" 2>"$work/stderr")
	st=$?
	cat "$work/stdout" "$work/stderr" |
	    sed -e "s|$work/||g" -e "s|$fixtures|@FIXTURES@|g" >"$work/out"
}

# secrets CONF: the secret values CONF holds, one a line (first lines of
# multi-line values; short values such as "x" are too common to check).
secrets() {
	sed -n -E 's/^(client_secret|client_secret_encrypted|access_token|refresh_token|token_salt|local_password)[ 	]*[=:][ 	]*//p' \
	    "$1" | awk 'length($0) >= 8'
}

# golden CONF NV: compare (or write) one pair.
golden() {
	conf=$1 want=$2 name=$(basename "$2")
	case $conf in
	/*)	path=$conf ;;
	*)	path=$dir/$conf ;;
	esac
	nv "$conf"
	conf=$(basename "$conf")
	if [ $st -ne 0 ]; then
		fail "-n -v $conf: exit $st: $(tail -n 2 "$work/stderr")"
		return
	fi
	leak=""
	while IFS= read -r s; do
		grep -qF -- "$s" "$work/out" && leak="$s"
	done <<EOF
$(secrets "$path")
EOF
	grep -q 'PRIVATE KEY' "$work/out" && leak="a private key"
	if [ -n "$leak" ]; then
		fail "-n -v $conf prints a secret: $leak"
		return
	fi
	pass "-n -v $conf prints none of its secrets"
	if [ $update -eq 1 ]; then
		cp "$work/out" "$want"
		pass "wrote $name"
	elif [ ! -f "$want" ]; then
		fail "$name missing (make config-golden writes it)"
	elif cmp -s "$work/out" "$want"; then
		pass "-n -v $conf matches $name"
	else
		fail "-n -v $conf differs from $name (make config-golden" \
		    "rewrites it): $(diff "$want" "$work/out" | head -n 6 |
		    tr '\n' ' ')"
	fi
}

# The sample names files by absolute path: put this tree's in.
sed "s|@FIXTURES@|$fixtures|g" "$fixtures/python-proxy-sample.conf" \
    >"$work/python-proxy-sample.conf"
golden "$work/python-proxy-sample.conf" "$dir/python-proxy-sample.nv"

n=0
for f in "$dir"/*.conf; do
	b=$(basename "$f" .conf)
	[ -f "$dir/$b.err" ] && continue
	golden "$b.conf" "$dir/$b.nv"
	n=$((n + 1))
done
[ $n -gt 0 ] || fail "no loading configuration in $dir"

# A golden file without its configuration is left over.
for f in "$dir"/*.nv; do
	b=$(basename "$f" .nv)
	[ "$b" = python-proxy-sample ] || [ -f "$dir/$b.conf" ] ||
	    fail "$b.nv has no $b.conf"
done
rm -rf "$work"
exit $rc
