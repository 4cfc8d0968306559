#!/bin/sh
# The bash completion of emailproxyctl (etc/bash-completion) completes
# the options, the commands and their arguments, the socket after -s
# as a file name, and the accounts of the running daemon for authorise
# and forget (asked with the -s socket of the command line).  It runs
# under bash with the bash-completion package's helpers.
top=${REGRESS_TOP:-$(cd "$(dirname "$0")/.." && pwd)}
tmp=${REGRESS_TMP:-/tmp}/completion
helpers=/usr/share/bash-completion/bash_completion

if [ ! -r "$helpers" ] || ! command -v bash >/dev/null 2>&1; then
	echo "FAIL: bash completion: $helpers or bash missing (package" \
	    "bash-completion, see regress/install-deps)"
	exit 1
fi
rm -rf "$tmp"
mkdir -p "$tmp/bin" "$tmp/dir" || exit 1
: >"$tmp/dir/emailproxy.sock"

# A stand-in emailproxyctl on PATH: the table of show accounts, for the
# socket the command line named only.
cat >"$tmp/bin/emailproxyctl" <<EOS
#!/bin/sh
[ "\$*" = "-s $tmp/ctl.sock show accounts" ] || exit 1
printf '%-32s %-9s %s\n' ACCOUNT STATE "TOKEN EXPIRES" \
    alice@example.com unlocked - bob@example.org locked -
EOS
chmod +x "$tmp/bin/emailproxyctl"

PATH="$tmp/bin:$PATH" bash -c '
. "$1"
. "$2"
tmp=$3
rc=0
# complete LINE WANT: the words completed at the end of LINE.
complete() {
	COMP_LINE=$1
	COMP_POINT=${#1}
	read -r -a COMP_WORDS <<<"$1"
	[[ $1 == *" " ]] && COMP_WORDS+=("")
	COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
	COMPREPLY=()
	_emailproxyctl emailproxyctl "${COMP_WORDS[COMP_CWORD]}" \
	    "${COMP_WORDS[COMP_CWORD - 1]}"
	got=$(printf "%s\n" "${COMPREPLY[@]}" | LC_ALL=C sort | paste -sd " ")
	want=$(printf "%s\n" $2 | LC_ALL=C sort | paste -sd " ")
	if [[ $got == "$want" ]]; then
		echo "PASS: completion of \"$1\": $want"
	else
		echo "FAIL: completion of \"$1\": got \"$got\", want \"$want\""
		rc=1
	fi
}
complete "emailproxyctl " "show authorise forget reload log health hash-password token"
complete "emailproxyctl -j s" "show"
complete "emailproxyctl --v" "--version"
complete "emailproxyctl -" "-h -j -s -V --help --version"
complete "emailproxyctl show " "accounts sessions pending stats metrics"
complete "emailproxyctl -s /x.sock show p" "pending"
complete "emailproxyctl show accounts " ""
complete "emailproxyctl show metrics " "-o"
complete "emailproxyctl log " "verbose brief"
complete "emailproxyctl hash-password " "-a -b -s"
complete "emailproxyctl hash-password -s " "-a"
complete "emailproxyctl hash-password -a $tmp/dir/e" "$tmp/dir/emailproxy.sock"
complete "emailproxyctl health " "-s"
complete "emailproxyctl -s $tmp/dir/e" "$tmp/dir/emailproxy.sock"
complete "emailproxyctl -s $tmp/ctl.sock forget " \
    "alice@example.com bob@example.org"
complete "emailproxyctl -s $tmp/ctl.sock authorise a" "alice@example.com"
complete "emailproxyctl -s $tmp/ctl.sock authorise alice@example.com " "-"
complete "emailproxyctl -s $tmp/other.sock forget " ""
complete "emailproxyctl token -" "-p"
complete "emailproxyctl token -p " ""
complete "emailproxyctl -s $tmp/ctl.sock token -p 3 " \
    "alice@example.com bob@example.org"
complete "emailproxyctl -s $tmp/ctl.sock token a" "alice@example.com"
exit $rc
' completion "$helpers" "$top/etc/bash-completion/emailproxyctl" "$tmp"
