# raw_close.sh - the program closes every descriptor with the raw
# close_range system call, then with a loop of raw close() calls, which no
# libc hook sees, and opens files again. nprof must notice, never write to
# or close a descriptor it no longer owns, stop spinning, say in one line
# what happened, and leave the program's descriptors and exit status
# exactly as without nprof (before: two cores spun, and exit became an
# abort, status 134).
source "$(dirname "$0")/../lib.sh"
source "$(dirname "$0")/../host_lib.sh"

# run_host MODE [under_nprof]: prints the program's descriptors after MODE
# and three opens, then its exit status.
scenario() {
	local mode=$1
	host_cmd "$mode" >/dev/null
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

	host_start "$T/host.$mode.out"
	await 20 test -S "$(sock_of "$PID")" || fail "no socket"
	ucurl "$PID" /debug/pprof/ -o /dev/null || fail "no answer before $mode"
	scenario "$mode"
	got=$FDS
	c0=$(cpu)
	sleep 2 # measuring CPU over an interval: the wait is the measurement
	c1=$(cpu)
	echo exit >&7
	wait "$PID"
	rc=$?
	echo "$mode: without nprof: fds [$ref] exit $ref_rc; under nprof: fds [$got] exit $rc," \
		"$((c1 - c0)) CPU ticks in 2 s"
	grep 'raw system call' "$T/host.$mode.out.err" || true
	[ "$rc" = "$ref_rc" ] || fail "$mode: exit status $rc, without nprof $ref_rc: $(cat "$T/host.$mode.out.err")"
	[ "$got" = "$ref" ] || fail "$mode: descriptors [$got], without nprof [$ref]"
	[ $((c1 - c0)) -le 20 ] || fail "$mode: nprof spins after the descriptors were closed"
	grep -q 'raw system call' "$T/host.$mode.out.err" ||
		fail "$mode: nprof did not say why it stopped serving: $(cat "$T/host.$mode.out.err")"
done
ok "raw close_range and close loop: descriptors and exit status as without nprof, no spin"
