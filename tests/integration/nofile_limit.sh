# nofile_limit.sh - the program lowers RLIMIT_NOFILE to 16 and takes every
# descriptor left; a client then connects to nprof's socket and waits.
# nprof must not spin on accept() failing with EMFILE (it took a whole core):
# the process stays idle, and once the program frees descriptors nprof
# serves again. Also prints how many descriptors nprof itself holds.
source "$(dirname "$0")/../lib.sh"
source "$(dirname "$0")/../host_lib.sh"

host_start "$T/host.out"
SOCK=$(sock_of "$PID")
await 20 test -S "$SOCK" || fail "no socket"
fds=$(host_cmd fds)
echo "descriptors at start: $fds"
own=$(ucurl "$PID" "/debug/pprof/fd?debug=1" | grep "nprof's own descriptors" || true)
echo "after one request: $own"
took=$(host_cmd "nofile 16")
[ "$took" -ge 1 ] || fail "the program could not take the descriptors left ($took)"
echo "program took $took more descriptors"

cpu() { awk '{print $14 + $15}' "/proc/$PID/stat"; }
# A client that connects and waits (it cannot be served: no descriptor).
python3 -c '
import socket, sys, time
s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1])
s.sendall(b"GET /debug/pprof/ HTTP/1.0\r\n\r\n")
open(sys.argv[2], "w").close(); time.sleep(30)' "$SOCK" "$T/connected" &
CLIENT=$!
PIDS+=("$CLIENT")
await 60 test -e "$T/connected" || fail "client did not connect"
c0=$(cpu)
t0=$(date +%s.%N)
sleep 3 # measuring CPU over an interval: the wait is the measurement itself
c1=$(cpu)
t1=$(date +%s.%N)
ticks=$((c1 - c0))
hz=$(getconf CLK_TCK)
echo "CPU while a client waits at the limit: $ticks ticks (of $hz/s) in $(echo "$t1 - $t0" | bc) s"
[ "$ticks" -le $((hz * 3 / 10)) ] || fail "nprof spins at the descriptor limit: $ticks ticks in 3 s"
kill "$CLIENT" 2>/dev/null
host_cmd release >/dev/null
code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 20 --unix-socket "$SOCK" http://localhost/debug/pprof/)
[ "$code" = 200 ] || fail "nprof does not serve again after descriptors were freed ($code)"
echo exit >&7
wait "$PID" || fail "exit status $?"
ok "at RLIMIT_NOFILE with every descriptor taken: $ticks ticks in 3 s, serving again after"
