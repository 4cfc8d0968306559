#!/bin/sh
# emailproxyctl hash-password prints crypt(3) hashes that verify the
# password and no other (checked with Python's crypt module); with
# -a FILE USER it appends "USER:hash" to a password file it creates
# mode 0600, refuses a user already there and a name that cannot be a
# user, and leaves the file as it was then.
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
work=$(mktemp -d "${REGRESS_TMP:-/tmp}/ctl_hashpw.XXXXXX") || exit 1
pwf=$work/passwd
printf 'one pw\n' | "$ctl" hash-password -a "$pwf" one@example.com
st1=$?
printf 'two pw\n' | "$ctl" hash-password -s -a "$pwf" two@example.com
st2=$?
mode=$(stat -c %a "$pwf" 2>/dev/null)
ok=$(/usr/bin/python3 -W ignore -c '
import crypt, sys
lines = open(sys.argv[1]).read().split("\n")
u1, h1 = lines[0].split(":", 1)
u2, h2 = lines[1].split(":", 1)
print(len(lines) == 3 and lines[2] == "" and
      u1 == "one@example.com" and crypt.crypt("one pw", h1) == h1 and
      crypt.crypt("two pw", h1) != h1 and u2 == "two@example.com" and
      h2.startswith("$6$") and crypt.crypt("two pw", h2) == h2)' "$pwf")
if [ $st1 -eq 0 ] && [ $st2 -eq 0 ] && [ "$mode" = 600 ] && [ "$ok" = True ]
then
	echo "PASS: hash-password -a appends user:hash lines that verify to a file created 0600"
else
	echo "FAIL: hash-password -a: exit $st1 $st2, mode $mode, verifies: $ok: $(cat "$pwf" 2>&1)"
	rc=1
fi
cp "$pwf" "$work/before"
out=$(printf 'again\n' | "$ctl" hash-password -a "$pwf" two@example.com 2>&1)
if [ $? -eq 1 ] && echo "$out" | grep -qF "$pwf:2: two@example.com is already there" &&
    cmp -s "$pwf" "$work/before"; then
	echo "PASS: hash-password -a refuses a user already in the file and leaves it unchanged"
else
	echo "FAIL: hash-password -a with a duplicate user: $out"
	rc=1
fi
out=$(printf 'pw\n' | "$ctl" hash-password -a "$pwf" 'a:b' 2>&1)
if [ $? -eq 1 ] && echo "$out" | grep -q "not a user name" &&
    cmp -s "$pwf" "$work/before"; then
	echo "PASS: hash-password -a refuses a user name with a colon"
else
	echo "FAIL: hash-password -a with user a:b: $out"
	rc=1
fi
rm -rf "$work"

out=$("$ctl" -s /nonexistent/emailproxy.sock show accounts 2>&1)
if [ $? -eq 1 ] && echo "$out" | grep -q "not running"; then
	echo "PASS: emailproxyctl says the daemon is not running, exit 1"
else
	echo "FAIL: emailproxyctl without a daemon: $out"
	rc=1
fi
exit $rc
