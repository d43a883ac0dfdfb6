# check_api.sh - nprof_check_begin()/nprof_check_end() around test cases
# in a program linked with -lnprof: a clean case, a case filling a global
# cache (reachable: not a leak), a detached thread that finishes during
# the grace period, and a case leaking one thread, one descriptor and one
# block, each counted exactly and named in the text (the program checks
# its reports itself and exits non-zero at the first wrong one).
source "$(dirname "$0")/../lib.sh"
"$BUILD/tests/programs/linked_check_api" >"$T/out" 2>&1 || { cat "$T/out"; fail "a report was wrong"; }
cat "$T/out"
grep -q '^leaky: rc=1 threads=1 fds=1 heap=1/4096' "$T/out" || fail "leaky case not reported"
ok "begin/end: clean, cached and detached cases pass; the leaky case counts 1 thread, 1 fd, 1 block"

# The same program under `nprof check` (preloaded, heap rate 1): its own
# reports are unchanged, and at exit only the block it never freed is
# left (the thread was joined and the descriptor closed since).
"$NPROF" check --json -- "$BUILD/tests/programs/linked_check_api" >"$T/out2" 2>"$T/err2"
rc=$?
grep -q PASSED "$T/out2" || { cat "$T/out2"; fail "reports differ under nprof check"; }
[ $rc -eq 1 ] || { cat "$T/err2"; fail "exit $rc under nprof check, want 1"; }
python3 - "$T/err2" <<'PY' || { cat "$T/err2"; fail "exit report"; }
import json, sys
r = json.load(open(sys.argv[1]))[0]
assert r["total"] == 1 and not r["threads"] and not r["fds"], r
h = r["heap"][0]
assert h["bytes"] == 4096 and h["stack"][0]["function"] == "case_leaky", h
PY
ok "under nprof check too: at exit, only the block never freed"

# The framework examples: each suite fails exactly its one leaking test,
# and the report names the leaking line.
ex="$BUILD/examples/leakcheck"
"$ex/cmocka_suite" >"$T/cm.out" 2>&1 && { cat "$T/cm.out"; fail "cmocka suite passed"; }
grep -q '\[  PASSED  \] 2 test(s)' "$T/cm.out" || { cat "$T/cm.out"; fail "cmocka: clean tests"; }
grep -q 'ERROR   \] test_leaky_greeting' "$T/cm.out" || fail "cmocka: leaky test not failed"
grep -q 'greeting .*cmocka_suite.c:31' "$T/cm.out" || fail "cmocka: leak line"
ok "cmocka suite: the leaking test fails with its line, the others pass"
"$ex/check_suite" >"$T/ck.out" 2>&1 && { cat "$T/ck.out"; fail "Check suite passed"; }
grep -q 'Checks: 2, Failures: 1, Errors: 0' "$T/ck.out" || { cat "$T/ck.out"; fail "Check: counts"; }
grep -q 'test_config_leaks_fd:0: the test leaked' "$T/ck.out" || fail "Check: leaky test not failed"
grep -q 'count_lines .*check_suite.c:26' "$T/ck.out" || fail "Check: leak line"
ok "Check suite: the leaking test fails with its line, the other passes"
