# fork_exec.sh - a preloaded program that forks and execs keeps serving;
# its children run normally and never remove the parent's socket.
source "$(dirname "$0")/../lib.sh"

mkfifo "$T/in"
exec 3<>"$T/in"
"$NPROF" run -- "$BUILD/tests/programs/forker" <&3 >"$T/out" 2>&1 &
PID=$!
PIDS+=("$PID")
await 20 test -S "$(sock_of $PID)" || fail "no socket"
exits_above() { [ "$(grep -c 'child exit' "$T/out")" -gt "$1" ]; }
for cmd in exec fork exec fork; do
	before=$(grep -c 'child exit' "$T/out")
	echo "$cmd" >&3
	await 10 exits_above "$before" || fail "child did not finish: $(cat "$T/out")"
done
grep -c 'child-ran' "$T/out" | grep -q 2 || fail "exec'd child output missing: $(cat "$T/out")"
[ "$(grep -c 'child exit 0' "$T/out")" = 4 ] || fail "a child failed: $(cat "$T/out")"
test -S "$(sock_of $PID)" || fail "a child removed the parent's socket"
[ "$(http_status --unix-socket "$(sock_of $PID)" http://localhost/debug/pprof/)" = 200 ] ||
	fail "parent no longer serving"
ucurl "$PID" "/debug/pprof/profile?seconds=1" -o "$T/cpu.pb.gz" && pprof -raw "$T/cpu.pb.gz" >/dev/null ||
	fail "CPU profile after fork"
# No stray sockets left by children.
[ "$(ls "$XDG_RUNTIME_DIR/nprof" | wc -l)" = 1 ] || fail "stray sockets: $(ls "$XDG_RUNTIME_DIR/nprof")"
ok "fork and exec: children ran, parent serves"
