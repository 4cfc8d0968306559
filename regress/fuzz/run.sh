#!/bin/sh
# Run each libFuzzer harness (obj-fuzz/<target>_fuzz, make fuzz) for
# FUZZ_SECONDS seconds, one after the other: make fuzz FUZZ_SECONDS=N
# [FUZZ_TARGETS="imap pop"].  The tree's corpus is read, never
# written: new inputs go to $FUZZ_WORK/<target>/ (default
# obj-fuzz/work), crashes to $FUZZ_WORK/<target>/crash-*.  Ends with
# one line per target (executions, coverage, findings); exits 1 if any
# target found something.

top=$(cd "$(dirname "$0")/../.." && pwd)
FUZZ_OBJDIR=${FUZZ_OBJDIR:-obj-fuzz}
FUZZ_SECONDS=${FUZZ_SECONDS:-60}
FUZZ_WORK=${FUZZ_WORK:-$top/$FUZZ_OBJDIR/work}
targets=$*
if [ -z "$targets" ]; then
	for src in "$top"/regress/fuzz/*_fuzz.c; do
		targets="$targets $(basename "$src" _fuzz.c)"
	done
fi

summary=""
found=0
for t in $targets; do
	bin="$top/$FUZZ_OBJDIR/${t}_fuzz"
	work="$FUZZ_WORK/$t"
	mkdir -p "$work/corpus"
	rm -f "$work"/crash-* "$work"/leak-* "$work"/timeout-* \
	    "$work"/oom-*
	set -- -max_total_time="$FUZZ_SECONDS" -print_final_stats=1 \
	    -close_fd_mask=3 -timeout=10 -artifact_prefix="$work/"
	[ -f "$top/regress/fuzz/$t.dict" ] &&
	    set -- "$@" -dict="$top/regress/fuzz/$t.dict"
	echo "== $t: $FUZZ_SECONDS s, log in $work/fuzz.log"
	"$bin" "$@" "$work/corpus" "$top/regress/fuzz/corpus/$t" \
	    >"$work/fuzz.log" 2>&1
	rc=$?
	done_line=$(grep -E '^#[0-9]+[[:space:]]+DONE' "$work/fuzz.log" |
	    tail -n 1)
	execs=$(sed -n 's/^stat::number_of_executed_units: *//p' \
	    "$work/fuzz.log")
	speed=$(sed -n 's/^stat::average_exec_per_sec: *//p' \
	    "$work/fuzz.log")
	cov=$(echo "$done_line" | sed -n 's/.*cov: \([0-9]*\).*/\1/p')
	ft=$(echo "$done_line" | sed -n 's/.*ft: \([0-9]*\).*/\1/p')
	arts=$(cd "$work" && ls crash-* leak-* timeout-* oom-* 2>/dev/null |
	    tr '\n' ' ')
	if [ $rc -ne 0 ] || [ -n "$arts" ]; then
		found=1
		findings="exit $rc ${arts:-}"
		grep -E 'ERROR|runtime error|SUMMARY' "$work/fuzz.log" |
		    head -n 5
	else
		findings=none
	fi
	line="$t: ${FUZZ_SECONDS} s, ${execs:-?} execs (${speed:-?}/s),"
	line="$line cov ${cov:-?}, ft ${ft:-?}, findings: $findings"
	echo "$line"
	summary="$summary$line
"
done
echo "== summary"
printf '%s' "$summary"
exit $found
