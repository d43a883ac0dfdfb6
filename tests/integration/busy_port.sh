# busy_port.sh - the --http port is taken by another process (a child that
# execs while its parent holds the port): only TCP is lost. The message says
# so; thread creators, thread-create stacks and descriptor origins keep
# being recorded; the unix socket serves; its file is removed at exit.
source "$(dirname "$0")/../lib.sh"
source "$(dirname "$0")/../host_lib.sh"

PORT=$(free_port)
python3 -c '
import socket, sys, time
s = socket.socket(); s.bind(("127.0.0.1", int(sys.argv[1]))); s.listen(1)
open(sys.argv[2], "w").close(); time.sleep(120)' "$PORT" "$T/held" &
PIDS+=($!)
await 60 test -e "$T/held" || fail "could not hold port $PORT"

host_start "$T/host.out" --http "127.0.0.1:$PORT"
SOCK=$(sock_of "$PID")
await 20 test -S "$SOCK" || fail "no unix socket: $(cat "$T/host.out.err")"
grep -q "address already in use" "$T/host.out.err" || fail "no message: $(cat "$T/host.out.err")"
grep "address already in use" "$T/host.out.err" | grep -q "only" ||
	fail "the message does not say only TCP is lost: $(cat "$T/host.out.err")"
echo "message: $(grep 'already in use' "$T/host.out.err")"

host_cmd thread >/dev/null
fd=$(host_cmd "open /etc/hostname")
[ "$fd" -ge 3 ] || fail "open failed"
ucurl "$PID" "/debug/pprof/goroutine?debug=2" -o "$T/threads.txt" || fail "threads"
grep -q "created by cmd_thread" "$T/threads.txt" ||
	fail "thread creator not recorded: $(grep -m3 'created by' "$T/threads.txt")"
ucurl "$PID" "/debug/pprof/threadcreate?debug=1" -o "$T/tc.txt" || fail "threadcreate"
grep -q "cmd_thread" "$T/tc.txt" || fail "thread-create stack not recorded: $(head "$T/tc.txt")"
ucurl "$PID" "/debug/pprof/fd?debug=1" -o "$T/fd.txt" || fail "fd"
grep -q "cmd_open" "$T/fd.txt" || fail "descriptor origin not recorded: $(head -30 "$T/fd.txt")"

echo exit >&7
wait "$PID"
rc=$?
[ "$rc" = 0 ] || fail "exit status $rc"
[ ! -e "$SOCK" ] || fail "socket file $SOCK left behind at exit"
ok "busy port: only TCP lost; creators, thread-create stacks, fd origins recorded; socket removed"
