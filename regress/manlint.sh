#!/bin/sh
# Every man page is mandoc -Tlint clean (warnings included).
cd "${REGRESS_TOP:-.}" || exit 1
rc=0
for m in *.5 *.8; do
	[ -f "$m" ] || continue
	out=$(mandoc -Tlint -Wwarning "$m" 2>&1)
	if [ -z "$out" ]; then
		echo "PASS: mandoc -Tlint -Wwarning $m is clean"
	else
		echo "FAIL: mandoc -Tlint -Wwarning $m: $(echo "$out" | head -3)"
		rc=1
	fi
done
exit $rc
