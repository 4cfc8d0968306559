#!/bin/sh
# regress/run counts what goes wrong: it runs a copy of itself on a
# scratch tree of dummy tests (one printing FAIL, one exiting non-zero
# after its PASS lines, one printing nothing, one deleting its output
# file, one wiping its scratch directory, two that pass) and checks
# each line it prints, its closing line and its exit status.

top=${REGRESS_TOP:-$(cd "$(dirname "$0")/.." && pwd)}
work=$(mktemp -d "${REGRESS_TMP:-/tmp}/runner.XXXXXX") || exit 1
tree="$work/tree"
rc=0

pass() { echo "PASS: $*"; }
fail() { echo "FAIL: $*"; rc=1; }

mkdir -p "$tree/regress" "$tree/obj/regress" || exit 1
cp "$top/regress/run" "$tree/regress/run" || exit 1

cat >"$tree/regress/dummy_fail.sh" <<'EOF'
echo "PASS: dummy_fail first"
echo "FAIL: dummy_fail second: on purpose"
exit 1
EOF
cat >"$tree/regress/dummy_exit.sh" <<'EOF'
echo "PASS: dummy_exit one"
echo "PASS: dummy_exit two"
exit 3
EOF
cat >"$tree/regress/dummy_silent.sh" <<'EOF'
echo "nothing to count here"
exit 0
EOF
cat >"$tree/regress/dummy_rmout.sh" <<'EOF'
echo "PASS: dummy_rmout before the output goes"
rm -f "$REGRESS_TMP.out"
exit 0
EOF
cat >"$tree/regress/dummy_wipe.sh" <<'EOF'
echo "PASS: dummy_wipe before"
rm -rf "$REGRESS_TMP"
echo "PASS: dummy_wipe after its scratch dir is gone"
EOF
cat >"$tree/regress/dummy_ok.sh" <<'EOF'
echo "PASS: dummy_ok"
EOF
# Its scratch dir is its own: empty, searchable, without the output.
cat >"$tree/regress/dummy_scratch.sh" <<'EOF'
case "$REGRESS_TMP" in
*/dummy_scratch.sh) ;;
*) echo "FAIL: dummy_scratch: REGRESS_TMP is $REGRESS_TMP"; exit 1 ;;
esac
if [ -d "$REGRESS_TMP" ] && [ -z "$(ls -A "$REGRESS_TMP")" ] &&
    [ "$(stat -c %a "$REGRESS_TMP")" = 755 ]; then
	echo "PASS: dummy_scratch: an empty 0755 scratch dir of its own"
else
	echo "FAIL: dummy_scratch: $(ls -ld "$REGRESS_TMP"; ls -A "$REGRESS_TMP")"
fi
if [ "$(pwd)" = "$(cd "$(dirname "$0")/.." && pwd)" ]; then
	echo "PASS: dummy_scratch: cwd is the tree's top"
else
	echo "FAIL: dummy_scratch: cwd $(pwd)"
fi
EOF

# runrun NAME...: run the copy; sets out, st
runrun() {
	out=$(REGRESS_TMP="$work/run" sh "$tree/regress/run" "$@" 2>&1)
	st=$?
}
has() { printf '%s\n' "$out" | grep -qxF -- "$1"; }
show() { printf '%s' "$out" | tr '\n' '|' | cut -c 1-600; }

runrun
last=$(printf '%s\n' "$out" | tail -n 1)
if [ "$last" = "8 passed, 4 failed" ] && [ $st -eq 1 ]; then
	pass "all dummies: closing line \"8 passed, 4 failed\", status 1"
else
	fail "all dummies: \"$last\", status $st: $(show)"
fi
has "FAIL: dummy_fail second: on purpose" &&
    ! has "FAIL: dummy_fail.sh exited with status 1; last lines:" &&
    pass "a FAIL line is one failure, not two" ||
    fail "a FAIL line and status 1: $(show)"
has "FAIL: dummy_exit.sh exited with status 3; last lines:" &&
    pass "status 3 after PASS lines is a failure" ||
    fail "status 3 after PASS lines not reported: $(show)"
has "FAIL: dummy_silent.sh printed no PASS or FAIL line; last lines:" &&
    pass "a test printing no PASS or FAIL line is a failure" ||
    fail "a silent test not reported: $(show)"
has "FAIL: dummy_rmout.sh: its output file $work/run/dummy_rmout.sh.out is gone" &&
    pass "a test whose output file is gone is a failure" ||
    fail "a deleted output file not reported: $(show)"
has "PASS: dummy_wipe after its scratch dir is gone" &&
    pass "a test wiping its scratch dir still has its output counted" ||
    fail "the output of a test wiping its scratch dir lost: $(show)"
has "PASS: dummy_scratch: an empty 0755 scratch dir of its own" &&
    ! printf '%s\n' "$out" | grep -q '^FAIL: dummy_scratch' &&
    pass "each test gets an empty scratch dir of its own, cwd the top" ||
    fail "scratch dir: $(show)"
if [ -d "$work/run" ] && printf '%s\n' "$out" | tail -n 2 | head -n 1 |
    grep -qxF "logs kept in $work/run"; then
	pass "a failed run keeps its logs and says where"
else
	fail "a failed run: $(show)"
fi

runrun dummy_ok dummy_wipe
if [ "$out" = "== dummy_ok.sh
PASS: dummy_ok
== dummy_wipe.sh
PASS: dummy_wipe before
PASS: dummy_wipe after its scratch dir is gone
3 passed, 0 failed" ] && [ $st -eq 0 ]; then
	pass "passing tests by name: \"3 passed, 0 failed\", status 0"
else
	fail "passing tests by name: status $st: $(show)"
fi

runrun no_such_test
if [ "$out" = "logs kept in $work/run
0 passed, 0 failed" ] && [ $st -eq 1 ]; then
	pass "a run with no check at all is a failure"
else
	fail "a run with no tests: status $st: $(show)"
fi

rm -rf "$work"
exit $rc
