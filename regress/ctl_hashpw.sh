#!/bin/sh
# emailproxyctl hash-password prints crypt(3) hashes that verify the
# password and no other (checked with Python's crypt module).
ctl=${EMAILPROXYCTL:-./emailproxyctl}
rc=0
for flag in "" -b -s; do
	case "$flag" in
	"")	want='$y$' ;;
	-b)	want='$2b$12$' ;;
	-s)	want='$6$rounds=100000$' ;;
	esac
	h=$(printf 'correct horse\n' | "$ctl" hash-password $flag)
	ok=$(/usr/bin/python3 -W ignore -c '
import crypt, sys
h = sys.argv[1]
print(crypt.crypt("correct horse", h) == h and crypt.crypt("wrong", h) != h)' "$h")
	case "$h" in
	"$want"*) pre=1 ;;
	*) pre=0 ;;
	esac
	if [ "$ok" = True ] && [ $pre -eq 1 ]; then
		echo "PASS: hash-password ${flag:-(yescrypt)} prints a $want hash that verifies"
	else
		echo "FAIL: hash-password ${flag:-(yescrypt)}: got '$h' (verifies: $ok)"
		rc=1
	fi
done
out=$(printf '\n' | "$ctl" hash-password 2>&1)
if [ $? -ne 0 ] && echo "$out" | grep -q "empty password"; then
	echo "PASS: hash-password refuses an empty password"
else
	echo "FAIL: hash-password accepted an empty password: $out"
	rc=1
fi
out=$("$ctl" -s /nonexistent/emailproxy.sock show accounts 2>&1)
if [ $? -eq 1 ] && echo "$out" | grep -q "not running"; then
	echo "PASS: emailproxyctl says the daemon is not running, exit 1"
else
	echo "FAIL: emailproxyctl without a daemon: $out"
	rc=1
fi
exit $rc
