# host_lib.sh - drives tests/programs/harm_host (sourced after lib.sh).
#
#   host_start OUT [nprof run flags]   starts it under `nprof run`; sets PID
#   host_cmd CMD                       sends CMD, waits for its "ok" line,
#                                      prints the answer's RESULT part
# Commands go through a fifo held open on descriptor 7.

host_start() {
	local out=$1
	shift
	HOST_OUT=$out
	rm -f "$T/host.in"
	mkfifo "$T/host.in"
	exec 7<>"$T/host.in"
	"$NPROF" run "$@" -- "$BUILD/tests/programs/harm_host" <&7 >"$out" 2>"$out.err" &
	PID=$!
	PIDS+=("$PID")
	await 20 grep -q '^ready' "$out" || fail "harm_host not ready: $(cat "$out.err")"
}

host_cmd() {
	# Commands run one at a time, so this one's answer is the next "ok"
	# line (counted from the file: host_cmd often runs in a subshell).
	local n=$(($(grep -c '^ok ' "$HOST_OUT") + 1))
	echo "$1" >&7
	answered() { [ "$(grep -c '^ok ' "$HOST_OUT")" -ge "$n" ]; }
	await 20 answered || fail "harm_host did not answer '$1': $(cat "$HOST_OUT.err")"
	grep '^ok ' "$HOST_OUT" | sed -n "${n}p" | cut -d' ' -f3-
}
