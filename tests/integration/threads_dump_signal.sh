# threads_dump_signal.sh - NPROF_DUMP_SIGNAL=SIGUSR2: each signal prints the
# debug=2 dump to stderr and the program goes on; `nprof stack PID` prints
# the same through the unix socket.
source "$(dirname "$0")/../lib.sh"

export NPROF_DUMP_SIGNAL=SIGUSR2
start_under_nprof "$T/out" -- "$BUILD/tests/programs/threads_many" 50
await 20 grep -q '^ready 50' "$T/out" || fail "not ready: $(cat "$T/out")"

kill -USR2 "$PID"
dumped() { [ "$(grep -c '^park_here(' "$T/out")" -ge "$1" ]; }
await 20 dumped 50 || fail "no dump on SIGUSR2: $(tail -20 "$T/out")"
grep -q '^nprof: thread dump of pid' "$T/out" || fail "dump header"
grep -Eq '^thread [0-9]+ "[^"]*" \[pthread_cond_wait, [0-9]+ seconds?\]:$' "$T/out" || fail "thread header"
kill -USR2 "$PID"
await 20 dumped 100 || fail "no second dump"
kill -0 "$PID" || fail "the program died"
ok "two signals, two dumps, program alive"

"$NPROF" stack "$PID" >"$T/stack" || fail "nprof stack failed"
[ "$(grep -c '^park_here(' "$T/stack")" -eq 50 ] || fail "nprof stack: $(head -20 "$T/stack")"
grep -q '^created by main in thread' "$T/stack" || fail "nprof stack: no creator"
"$NPROF" stack --grouped "$PID" | sed -n 2p | grep -q '^50 @' || fail "nprof stack --grouped"
"$NPROF" stack >/dev/null 2>&1; [ $? -eq 2 ] || fail "usage error must exit 2"
ok "nprof stack PID prints the same dump"
