# check_self.sh - nprof's own command line and unit-test binaries run
# clean under `nprof check`: reading, ranking and diffing saved profiles,
# usage and errors, and every unit test leave no thread, descriptor or
# unreachable block behind. The unit tests link libnprof.a, a copy of nprof
# of their own: the preloaded copy stays dormant and theirs does the check
# (docs/internals/check.md, "Two copies of nprof").
source "$(dirname "$0")/../lib.sh"
"$NPROF" run --out "$T/out" -- "$BUILD/tests/programs/check_clean" >/dev/null ||
	fail "nprof run --out"
heap=$(ls "$T"/out/heap.*.pb.gz | head -1)
fd=$(ls "$T"/out/fd.*.pb.gz | head -1)
[ -f "$heap" ] && [ -f "$fd" ] || fail "no saved profiles"
run_clean() {
	"$NPROF" check -- "$@" >"$T/o" 2>"$T/e"
	local rc=$?
	if grep -q '^nprof check:' "$T/e"; then
		cat "$T/e"
		fail "nprof check reported leaks in: $*"
	fi
	echo "$rc"
}
[ "$(run_clean "$NPROF" top "$heap")" = 0 ] || fail "nprof top"
[ "$(run_clean "$NPROF" top "$fd")" = 0 ] || fail "nprof top fd"
[ "$(run_clean "$NPROF" diff "$heap" "$heap")" = 0 ] || fail "nprof diff"
[ "$(run_clean "$NPROF" --help)" = 0 ] || fail "nprof --help"
[ "$(run_clean "$NPROF" check --help)" = 0 ] || fail "nprof check --help"
[ "$(run_clean "$NPROF" top /nonexistent)" = 1 ] || fail "nprof top on a missing file"
[ "$(run_clean "$NPROF" fetch)" = 2 ] || fail "nprof fetch without arguments"
# Unit tests: no report, and the exit status each has without nprof check.
# test_reach is left out: it asserts what nprof's sampled range holds,
# which a running copy of nprof (the one doing the check) fills too.
n=0
for u in "$BUILD"/tests/unit/*; do
	[ -x "$u" ] || continue
	case "$u" in */test_reach) continue ;; esac
	timeout 300 "$u" >/dev/null 2>&1
	want=$?
	[ "$(run_clean "$u")" = "$want" ] || fail "$u: exit status under nprof check differs from $want"
	n=$((n + 1))
done
[ "$n" -ge 4 ] || fail "only $n unit-test binaries found"
ok "nprof top, diff, --help, error paths and $n unit-test binaries run clean under nprof check"
