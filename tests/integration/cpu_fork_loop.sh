# cpu_fork_loop.sh - three threads fork() in a loop while allocating, under
# a CPU profile, 20 rounds. A thread's first sample must not need malloc
# (the unwinder's thread-local storage is dynamic: touching it from the
# handler went through __tls_get_addr into malloc while fork held glibc's
# malloc locks, and the whole process hung). Each round: the profile
# answers and parses, and the program exits 0 on time.
source "$(dirname "$0")/../lib.sh"

ROUNDS=${ROUNDS:-20}
for r in $(seq 1 "$ROUNDS"); do
	rm -f "$T/stop"
	start_under_nprof "$T/out.$r" -- "$BUILD/tests/programs/fork_loop" 3 "$T/stop"
	ucurl "$PID" "/debug/pprof/profile?seconds=2" --max-time 20 -o "$T/cpu.$r.pb.gz" ||
		fail "round $r: the profile never answered (hung?)"
	touch "$T/stop"
	pprof -raw "$T/cpu.$r.pb.gz" >"$T/raw.$r" || fail "round $r: invalid profile: $(cat "$T/pprof.err")"
	gone() { ! kill -0 "$PID" 2>/dev/null; }
	await 20 gone || fail "round $r: program did not exit on time (hung?): $(cat "$T/out.$r")"
	wait "$PID"
	rc=$?
	[ "$rc" = 0 ] || fail "round $r: exit status $rc: $(cat "$T/out.$r")"
	grep -q '^forks [1-9]' "$T/out.$r" || fail "round $r: no forks: $(cat "$T/out.$r")"
done
ok "$ROUNDS rounds of fork loops under a CPU profile: every profile valid, every exit on time"
