# check_self.sh - nprof's own command line runs clean under `nprof check`:
# reading, ranking and diffing saved profiles, usage and errors leave no
# thread, descriptor or unreachable block behind. (The unit-test binaries
# link libnprof.a, a second copy of nprof, so they cannot take a preloaded
# one; the corpus and API tests cover the library itself.)
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
ok "nprof top, diff, --help and error paths run clean under nprof check"
