# real_memcached.sh - a program nprof did not write: memcached (4 worker
# threads, Debian's stripped build) under memcslap load, side by side with
# and without nprof preloaded. Under nprof it serves every profile,
# answers every request, logs nothing new and exits on SIGTERM as without.
source "$(dirname "$0")/../lib.sh"
source "$ROOT/tests/real_lib.sh"

SLAP=$(command -v memcslap || command -v memslap) && command -v memcached >/dev/null ||
	fail "memcached/memcslap missing (scripts/deps.sh test installs memcached libmemcached-tools)"

# start NAME [env...]: memcached on a free port; sets PID_NAME, PORT_NAME.
start() {
	local name=$1 port pid
	shift
	port=$(free_port)
	env "$@" memcached -u root -l 127.0.0.1 -p "$port" -U 0 -t 4 -m 64 -v >"$T/$name.log" 2>&1 &
	pid=$!
	PIDS+=("$pid")
	await 20 bash -c "exec 3<>/dev/tcp/127.0.0.1/$port" ||
		fail "$name: memcached does not listen: $(cat "$T/$name.log")"
	eval "PID_$name=$pid PORT_$name=$port"
}

# load NAME TEST: one memcslap round (4 clients, 5000 operations each);
# prints keys per second of its "Time to TEST N keys by C threads: S
# seconds." line. Any error line fails.
load() {
	local port out=$T/$1.$2
	port=$(eval echo "\$PORT_$1")
	"$SLAP" -s "127.0.0.1:$port" -c 4 -e 5000 -t "$2" >"$out" 2>"$out.err" ||
		fail "$1: memcslap $2 failed: $(tail -3 "$out.err")"
	[ -s "$out.err" ] && fail "$1: memcslap $2 errors: $(sort "$out.err" | uniq -c | head -5)"
	awk -v t="$2" '$1 == "Time" && $3 == t { n = $4; s = $(NF - 1) }
		END { if (s > 0 && n > 0) printf "%d\n", n / s; else exit 1 }' "$out" ||
		fail "$1: memcslap output: $(cat "$out")"
}

start base
start nprof "${NPROF_ENV[@]}"
await 20 test -S "$(sock_of "$PID_nprof")" || fail "no nprof socket in memcached"
declare -A R
for round in 1 2 3 4 5; do
	for name in base nprof; do
		# The third round of the one under nprof runs under a CPU profile.
		[ $round$name = 3nprof ] && cpu_profile_start "$PID_nprof" 2
		for t in set get; do
			v=$(load $name $t) || exit 1 # (fail in $(...) only ends the subshell)
			R[$name.$t]+="$v "
		done
	done
done
cpu_profile_check memcached busy
every_profile "$PID_nprof"

# The keys survived the profiling: a set and a get after all of it.
printf 'set k 0 0 1\r\nv\r\nget k\r\nquit\r\n' | timeout 10 python3 -c '
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
s.sendall(sys.stdin.buffer.read())
sys.stdout.write(s.makefile("rb").read().decode())' "$PORT_nprof" | grep -q '^VALUE k 0 1' ||
	fail "memcached does not answer after profiling"

kill -TERM "$PID_base" "$PID_nprof"
wait "$PID_base"
base_status=$?
wait "$PID_nprof"
status=$?
[ "$status" = "$base_status" ] || fail "exit status $status under nprof, $base_status without"
same_log memcached "$T/base.log" "$T/nprof.log"
msg=""
for t in set get; do
	# shellcheck disable=SC2086
	with=$(median ${R[nprof.$t]}) without=$(median ${R[base.$t]})
	not_collapsed "memcached $t" "$with" "$without"
	msg+="$t $with/s vs $without/s without ($(ratio "$with" "$without")x), "
done
ok "memcached: nprof's own descriptors $OWN_FDS; ${msg}medians of 5 rounds; exit $status both; CPU profile $CPU_TOTAL; $PARSED profiles parsed; log unchanged"
