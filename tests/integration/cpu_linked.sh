# cpu_linked.sh - the link-in API: a program linked with -lnprof starts
# nprof itself after creating its threads; its CPU profile shows the hot
# function of those earlier threads.
source "$(dirname "$0")/../lib.sh"

port=$(free_port)
LINKED_CONFIG="http=127.0.0.1:$port" "$BUILD/tests/programs/linked_busy" >"$T/out" 2>&1 &
PID=$!
PIDS+=("$PID")
await 20 test -S "$(sock_of $PID)" || { cat "$T/out"; fail "no socket"; }
grep -q '^linked_busy: pid' "$T/out" || await 5 grep -q '^linked_busy: pid' "$T/out" || fail "$(cat "$T/out")"

pprof -top "http://127.0.0.1:$port/debug/pprof/profile?seconds=2" >"$T/top.txt" ||
	fail "pprof: $(cat "$T/pprof.err")"
cat "$T/top.txt"
first=$(awk '/flat%/ {getline; print; exit}' "$T/top.txt")
echo "$first" | grep -q 'hot_loop$' || fail "top function: $first"
pprof -top -lines "http://127.0.0.1:$port/debug/pprof/profile?seconds=1" >"$T/lines.txt" || fail "pprof -lines"
grep -q 'hot_loop .*linked_busy\.c:[0-9]' "$T/lines.txt" || fail "no file:line for hot_loop"
ok "linked program: hot_loop on top with its line"
