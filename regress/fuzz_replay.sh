#!/bin/sh
# Replay every fuzz corpus (regress/fuzz/corpus/<target>/) through its
# harness built without libFuzzer ($OBJDIR/regress/fuzz/<target>_replay,
# make replay; under SANITIZE=1 with ASan and UBSan): one PASS line per
# target, FAIL naming the first input that crashes or trips a sanitizer.

top=${REGRESS_TOP:-$(cd "$(dirname "$0")/.." && pwd)}
OBJDIR=${OBJDIR:-obj}
corpora="$top/regress/fuzz/corpus"
bindir="$top/$OBJDIR/regress/fuzz"
tmp=${REGRESS_TMP:-/tmp}/fuzz_replay.$$
trap 'rm -f "$tmp"' EXIT
# A sanitizer report must end the replay with a failure.
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1}:abort_on_error=0:exitcode=86"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"

nharness=0
for src in "$top"/regress/fuzz/*_fuzz.c; do
	t=$(basename "$src" _fuzz.c)
	nharness=$((nharness + 1))
	bin="$bindir/${t}_replay"
	dir="$corpora/$t"
	if [ ! -x "$bin" ]; then
		echo "FAIL: fuzz replay $t: $bin not built (make replay)"
		continue
	fi
	n=$(find "$dir" -type f 2>/dev/null | wc -l)
	if [ "$n" -eq 0 ]; then
		echo "FAIL: fuzz replay $t: no corpus in $dir"
		continue
	fi
	"$bin" "$dir" >"$tmp" 2>&1
	rc=$?
	if [ $rc -eq 0 ] && ! grep -qE 'runtime error|Sanitizer' "$tmp" &&
	    grep -q "^replayed $n inputs" "$tmp"; then
		echo "PASS: fuzz replay $t: $n inputs"
		continue
	fi
	# Which input: one at a time until it fails.
	bad=unknown
	for f in $(find "$dir" -type f | sort); do
		if ! "$bin" "$f" >"$tmp" 2>&1 ||
		    grep -qE 'runtime error|Sanitizer' "$tmp"; then
			bad=${f#$top/}
			break
		fi
	done
	echo "FAIL: fuzz replay $t: exit status $rc on $bad"
	grep -E 'ERROR|runtime error|SUMMARY|#[0-9] ' "$tmp" | head -n 15 |
	    sed 's/^/    /'
done
for dir in "$corpora"/*; do
	t=$(basename "$dir")
	[ -e "$top/regress/fuzz/${t}_fuzz.c" ] ||
	    echo "FAIL: fuzz replay: corpus $t has no harness"
done
[ "$nharness" -ge 1 ] || echo "FAIL: fuzz replay: no harness found"
