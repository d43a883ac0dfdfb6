# fd_client_per_request.sh - docs/incidents.md 3 under nprof: a service that
# builds a new RPC client per request. Its TCP sockets grow; fd?debug=1
# lists them as socket-tcp with their peer, the "cloud API"; the largest
# group of the proto, read by go tool pprof -top -lines, is the socket()
# line of the client constructor; a seconds=N delta shows the growth
# there and nothing at the stable noise (pool pipe, log file).
source "$(dirname "$0")/../lib.sh"

src="$ROOT/examples/client_per_request.c"
start_under_nprof "$T/svc.out" -- "$BUILD/examples/client_per_request" 50 100000
await 20 grep -q '^api 127.0.0.1:' "$T/svc.out" || fail "no api line: $(cat "$T/svc.out")"
api=$(sed -n 's/^api //p' "$T/svc.out")

# tcp_count: socket-tcp descriptors in the profile's header.
tcp_count() {
	ucurl "$PID" "/debug/pprof/fd?debug=1" | sed -n 's/^# kinds:.*socket-tcp=\([0-9]*\).*/\1/p'
}
tcp_at_least() { [ "$(tcp_count)" -ge "$1" ]; }
await 30 tcp_at_least 20 || fail "sockets never reached 20: $(tcp_count)"
first=$(tcp_count)
await 30 tcp_at_least $((first + 50)) || fail "sockets do not grow: $first then $(tcp_count)"
ok "socket-tcp grew from $first to at least $((first + 50))"

ucurl "$PID" "/debug/pprof/fd?debug=1" -o "$T/fd.txt" || fail "fd?debug=1"
peers=$(grep -cE "^#	fd [0-9]+	socket-tcp	127\.0\.0\.1:[0-9]+ -> $api	age [0-9.]+s	by socket$" "$T/fd.txt")
[ "$peers" -ge $((first + 50)) ] || { head -40 "$T/fd.txt"; fail "only $peers socket-tcp lines with peer $api"; }
grep -q 'client_new+0x[0-9a-f]*	.*client_per_request\.c:[0-9]' "$T/fd.txt" ||
	fail "the creating stack does not name client_new"
ok "fd?debug=1: $peers sockets listed as socket-tcp 127.0.0.1:PORT -> $api, created in client_new"

# The biggest group is the socket() call in client_new.
sock_line=$(grep -n 'c->fd = socket(' "$src" | cut -d: -f1)
ucurl "$PID" "/debug/pprof/fd" -o "$T/fd.pb.gz" || fail "fd proto"
pprof -top -lines "$T/fd.pb.gz" >"$T/top.txt" || fail "pprof -top -lines: $(cat "$T/pprof.err")"
cat "$T/top.txt"
top=$(awk '/flat%/ {getline; print; exit}' "$T/top.txt")
echo "$top" | grep -q "client_new .*client_per_request\.c:$sock_line" ||
	fail "largest group is not client_per_request.c:$sock_line (the socket() call): $top"
grep -q 'Type: fds' "$T/top.txt" || fail "sample type is not fds"
ok "largest group: client_new at client_per_request.c:$sock_line"

# A delta over 2 seconds: growth at the constructor only.
ucurl "$PID" "/debug/pprof/fd?seconds=2" -o "$T/delta.pb.gz" || fail "fd?seconds=2"
pprof -top "$T/delta.pb.gz" >"$T/delta.txt" || fail "pprof on the delta: $(cat "$T/pprof.err")"
cat "$T/delta.txt"
dtop=$(awk '/flat%/ {getline; print; exit}' "$T/delta.txt")
echo "$dtop" | grep -q 'client_new$' || fail "delta's top is not client_new: $dtop"
grep -q 'start_pool' "$T/delta.txt" && fail "stable descriptors show in the delta"
grep -q 'Duration: 2' "$T/delta.txt" || fail "delta duration: $(grep Duration "$T/delta.txt")"
ok "seconds=2 delta: growth at client_new only"
