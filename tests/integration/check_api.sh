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
