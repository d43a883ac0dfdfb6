# check_static.sh - a program that links libnprof.a (its own copy of nprof,
# as nprof's unit tests do) run with libnprof.so preloaded: the preloaded
# copy sees that the program's copy owns the hooks, says so in one line and
# stays dormant; the program runs to completion (before, the two copies
# forwarded each malloc to each other forever); under `nprof check` the
# program's own copy does the check and finds exactly the known leaks.
source "$(dirname "$0")/../lib.sh"
P="$BUILD/tests/programs/static_leak"
timeout 30 env LD_PRELOAD="$LIB" "$P" >"$T/o" 2>"$T/e"
rc=$?
[ "$rc" = 0 ] || { cat "$T/e"; fail "static_leak with libnprof.so preloaded: exit $rc (124: hung)"; }
grep -q '^static_leak done$' "$T/o" || fail "static_leak did not finish its work"
[ "$(grep -c 'this preloaded copy stays dormant' "$T/e")" = 1 ] ||
	{ cat "$T/e"; fail "expected one line from the dormant copy"; }
timeout 60 env LD_PRELOAD="$LIB" "$BUILD/tests/unit/test_buf" >"$T/o" 2>"$T/e"
rc=$?
[ "$rc" = 0 ] || { cat "$T/e"; fail "test_buf with libnprof.so preloaded: exit $rc (124: hung)"; }

timeout 60 "$NPROF" check -- "$P" >"$T/o" 2>"$T/e"
rc=$?
[ "$rc" = 1 ] || { cat "$T/e"; fail "nprof check on static_leak: exit $rc, want 1"; }
grep -q '^nprof check: .*: 0 threads, 1 descriptor, 1 heap block (4321 bytes) leaked$' "$T/e" ||
	{ cat "$T/e"; fail "nprof check on static_leak: not exactly the known leaks"; }
grep -q 'leak_block tests/programs/static_leak.c:28$' "$T/e" ||
	{ cat "$T/e"; fail "the leaked block's allocating line is missing"; }
grep -q 'fd [0-9]* (/dev/null), opened at:' "$T/e" ||
	{ cat "$T/e"; fail "the leaked descriptor is missing"; }
ok "static nprof + preloaded nprof: runs to completion, one copy checks, known leaks found"
