# threads_sample_owner.sh - the signal that samples running threads
# (SIGRTMAX) stays the program's: a program that installed its own handler
# before nprof needed it is never sent it (its spinning thread shows the
# pseudo frame [running]); a program that installs one after nprof sampled
# is told the disposition was SIG_DFL, gets its signal, and nprof stops
# sending it.
source "$(dirname "$0")/../lib.sh"
prog="$BUILD/tests/programs/sigrt_owner"

d2() { ucurl "$PID" "/debug/pprof/goroutine?debug=2" -o "$1" || fail "dump failed"; }

# The program owns it from the start.
start_under_nprof "$T/out1" -- "$prog" before
await 10 grep -q '^ready' "$T/out1" || fail "not ready: $(cat "$T/out1")"
d2 "$T/b.2"
grep -q '^spin_here(' "$T/b.2" && { cat "$T/b.2"; fail "nprof sampled with the program's signal"; }
grep -q '^\[running\]$' "$T/b.2" || { cat "$T/b.2"; fail "no [running] pseudo frame"; }
kill -s RTMAX "$PID"
await 10 grep -q '^got 1$' "$T/out1" || fail "the program's handler did not run: $(cat "$T/out1")"
ok "owned before: not used by nprof, the program's handler runs"
kill "$PID"

# The program takes it after nprof installed its handler.
start_under_nprof "$T/out2" -- "$prog" after "$T/go"
await 10 grep -q '^ready' "$T/out2" || fail "not ready: $(cat "$T/out2")"
d2 "$T/a1.2"
grep -q '^spin_here(' "$T/a1.2" || { cat "$T/a1.2"; fail "spinning thread not sampled"; }
touch "$T/go"
await 10 grep -q '^installed' "$T/out2" || fail "not installed: $(cat "$T/out2")"
grep -q '^old=SIG_DFL$' "$T/out2" || fail "disposition shown: $(cat "$T/out2")"
d2 "$T/a2.2"
grep -q '^\[running\]$' "$T/a2.2" || { cat "$T/a2.2"; fail "nprof still samples with it"; }
grep -q '^got' "$T/out2" && fail "nprof's signal reached the program's handler: $(cat "$T/out2")"
kill -s RTMAX "$PID"
await 10 grep -q '^got 1$' "$T/out2" || fail "the program's handler did not run: $(cat "$T/out2")"
ok "taken after: SIG_DFL shown, nprof stops, the program's handler runs"
