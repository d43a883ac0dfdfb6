# cpu_startstop.sh - CPU profiles started and abandoned 100 times in a row
# on a busy program (each client hangs up 0.2 s in, with timers firing):
# no stray SIGPROF kills it ("Profiling timer expired"), no timer is left
# behind, and a normal profile still works afterwards (docs/safety.md, *Signals*).
# Then timer_create failing: one warning, the rest works (docs/safety.md, *Signals*).
source "$(dirname "$0")/../lib.sh"

start_under_nprof "$T/out" -- "$BUILD/examples/busy"
sock=$(sock_of "$PID")
for i in $(seq 100); do
	curl -s -o /dev/null --max-time 0.2 --unix-socket "$sock" \
		"http://localhost/debug/pprof/profile?seconds=30"
	kill -0 "$PID" 2>/dev/null || fail "program died at round $i: $(tail -3 "$T/out")"
done
no_timers() { ! grep -q '^ID:' "/proc/$PID/timers"; }
await 10 no_timers || fail "timers left after 100 abandoned profiles"
ucurl "$PID" "/debug/pprof/profile?seconds=1" -o "$T/cpu.pb.gz" || fail "profile after the storm"
pprof -top "$T/cpu.pb.gz" | grep -q 'checksum_block\|mix' || fail "profile after the storm is empty"
kill -0 "$PID" || fail "program died"
grep -qi 'profiling timer expired' "$T/out" && fail "a stray SIGPROF reached SIG_DFL"
ok "100 abandoned profiles: program alive, no timers left, next profile fine"

# timer_create failing (no pending signals allowed): one warning, a valid
# empty CPU profile, and everything else still served.
prlimit --sigpending=0 "$NPROF" run -- "$BUILD/examples/busy" >"$T/nolimit.out" 2>&1 &
PID=$!
PIDS+=("$PID")
await 20 test -S "$(sock_of $PID)" || fail "no socket under RLIMIT_SIGPENDING=0"
code=$(ucurl "$PID" "/debug/pprof/profile?seconds=1" -o "$T/nolimit.pb.gz" -w '%{http_code}')
[ "$code" = 200 ] || fail "CPU profile status $code when timer_create fails"
pprof -raw "$T/nolimit.pb.gz" >/dev/null || fail "profile invalid when timer_create fails"
ucurl "$PID" "/debug/pprof/profile?seconds=1" -o /dev/null || fail "second profile"
[ "$(grep -c 'timer_create' "$T/nolimit.out")" = 1 ] ||
	fail "want one warning: $(cat "$T/nolimit.out")"
ucurl "$PID" /debug/pprof/heap -o "$T/heap.pb.gz" && pprof -raw "$T/heap.pb.gz" >/dev/null ||
	fail "heap profile when timer_create fails"
kill -0 "$PID" || fail "program died"
ok "timer_create failing: $(grep timer_create "$T/nolimit.out")"
