# raw_close.sh - the program closes every descriptor with the raw
# close_range system call, then with a loop of raw close() calls, which no
# libc hook sees, and opens files again. nprof must notice, never write to
# or close a descriptor it no longer owns, stop spinning, say in one line
# what happened, serve again on new descriptors (the unix socket and the
# TCP port, bound again) within a few seconds, and leave the program's
# descriptors and exit status exactly as without nprof (before: two cores
# spun, and exit became an abort, status 134; then: nprof stopped serving
# for good). The new descriptors take high numbers, so the program's next
# opens get the numbers they get without nprof.
source "$(dirname "$0")/../lib.sh"
source "$(dirname "$0")/../host_lib.sh"

# scenario MODE [under_nprof]: MODE, three opens, (under nprof: until both
# listeners answer again), three more opens; FDS: the program's descriptors.
serving() {
	ucurl "$PID" /debug/pprof/ -o /dev/null --max-time 5 2>/dev/null &&
		curl -sf --max-time 5 -o /dev/null "http://127.0.0.1:$PORT/debug/pprof/"
}
scenario() {
	local mode=$1
	host_cmd "$mode" >/dev/null
	for i in 1 2 3; do host_cmd "open /etc/hostname" >/dev/null; done
	if [ -n "${2:-}" ]; then
		t0=$(date +%s.%N)
		await 20 serving || fail "$mode: nprof does not serve again: $(cat "$T/host.$mode.out.err")"
		AGAIN=$(echo "$(date +%s.%N) - $t0" | bc)
	fi
	for i in 1 2 3; do host_cmd "open /etc/hostname" >/dev/null; done
	FDS=$(host_cmd fds)
}
cpu() { awk '{print $14 + $15}' "/proc/$PID/stat"; }

for mode in close_range close_loop; do
	# Without nprof: the reference.
	rm -f "$T/host.in"
	mkfifo "$T/host.in"
	exec 7<>"$T/host.in"
	"$BUILD/tests/programs/harm_host" <&7 >"$T/ref.out" 2>&1 &
	PID=$!
	HOST_OUT=$T/ref.out
	await 20 grep -q '^ready' "$T/ref.out" || fail "reference not ready"
	scenario "$mode"
	ref=$FDS
	echo exit >&7
	wait "$PID"
	ref_rc=$?

	PORT=$(free_port)
	NPROF_HTTP=127.0.0.1:$PORT host_start "$T/host.$mode.out"
	await 20 test -S "$(sock_of "$PID")" || fail "no socket"
	serving || fail "no answer before $mode"
	scenario "$mode" under_nprof
	# The program's descriptors: it opens fewer than 100, so those below
	# 100 are its own; nprof's (the fd profile names them, libunwind's
	# pipe aside) must all sit above.
	own=$(ucurl "$PID" "/debug/pprof/fd?debug=1" | sed -n "s/^# nprof's own descriptors, not counted://p")
	got=$(for fd in $FDS; do [ "$fd" -ge 100 ] || printf ' %s' "$fd"; done)
	got=${got# }
	echo "$mode: both listeners answer again ${AGAIN}s after the opens that followed;" \
		"descriptors of the process now: $(ls -l /proc/$PID/fd | awk 'NR > 1 {print $9 "=" $11}' | sort -n | tr '\n' ' ')"
	for fd in $own; do
		[ "$fd" -gt 100 ] || fail "$mode: nprof serves again on descriptor $fd, a number the program gets next"
	done
	c0=$(cpu)
	sleep 2 # measuring CPU over an interval: the wait is the measurement
	c1=$(cpu)
	echo exit >&7
	wait "$PID"
	rc=$?
	echo "$mode: without nprof: fds [$ref] exit $ref_rc; under nprof: fds [$got] exit $rc," \
		"$((c1 - c0)) CPU ticks in 2 s"
	grep -e 'raw system call' -e 'serving again' "$T/host.$mode.out.err" || true
	[ "$rc" = "$ref_rc" ] || fail "$mode: exit status $rc, without nprof $ref_rc: $(cat "$T/host.$mode.out.err")"
	[ "$got" = "$ref" ] || fail "$mode: descriptors [$got], without nprof [$ref]"
	[ $((c1 - c0)) -le 20 ] || fail "$mode: nprof spins after the descriptors were closed"
	grep -q 'raw system call' "$T/host.$mode.out.err" ||
		fail "$mode: nprof did not say what happened: $(cat "$T/host.$mode.out.err")"
	[ "$(grep -c 'raw system call' "$T/host.$mode.out.err")" = 1 ] ||
		fail "$mode: more than one line about it: $(cat "$T/host.$mode.out.err")"
done
ok "raw close_range and close loop: serving again on both listeners, descriptors and exit status as without nprof, no spin"
