# cpu_sigprof.sh - a program that owns SIGPROF: nprof refuses to profile
# it (409, with the reason), and when the program takes SIGPROF or resets it
# to SIG_DFL during a profile, nprof stops first and the program lives.
source "$(dirname "$0")/../lib.sh"

start_under_nprof "$T/before.out" -- "$BUILD/tests/programs/sigprof_owner" before
await 10 grep -q ready "$T/before.out" || fail "not ready"
code=$(ucurl "$PID" "/debug/pprof/profile?seconds=1" -o "$T/body" -w '%{http_code}')
[ "$code" = 409 ] || fail "status $code for a program owning SIGPROF"
grep -q 'SIGPROF' "$T/body" || fail "reason missing: $(cat "$T/body")"
ok "program owns SIGPROF: 409 ($(cat "$T/body"))"

for how in during default; do
	mkfifo "$T/in.$how"
	exec {fd}<>"$T/in.$how"
	"$NPROF" run -- "$BUILD/tests/programs/sigprof_owner" "$how" <&$fd >"$T/$how.out" 2>&1 &
	PID=$!
	PIDS+=("$PID")
	await 20 test -S "$(sock_of $PID)" || fail "no socket"
	ucurl "$PID" "/debug/pprof/profile?seconds=20" -o "$T/body.$how" -w '%{http_code}' >"$T/code.$how" &
	curl_pid=$!
	has_timers() { grep -q '^ID:' "/proc/$PID/timers"; }
	await 10 has_timers || fail "profile did not start"
	echo go >&$fd
	await 10 grep -q installed "$T/$how.out" || fail "program did not install its disposition"
	wait $curl_pid
	[ "$(cat "$T/code.$how")" = 409 ] || fail "$how: status $(cat "$T/code.$how")"
	grep -q '^ID:' "/proc/$PID/timers" && fail "$how: timers left running"
	# Give any stray signal time to land: the process must still be alive
	# after burning well over one profiling interval of CPU.
	start=$(awk '{print $14+$15}' "/proc/$PID/stat")
	burnt() { [ $(($(awk '{print $14+$15}' "/proc/$PID/stat") - start)) -ge 50 ]; }
	await 20 burnt || fail "$how: program stopped running"
	kill -0 "$PID" || fail "$how: program died: $(cat "$T/$how.out")"
	ok "SIGPROF taken ($how) during a profile: profile abandoned with 409, program alive"
done
