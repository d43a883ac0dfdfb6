# threads_linked.sh - a program linked with -lnprof that starts nprof after
# creating its threads: those threads appear in the dump, with their
# stacks and wait reasons, their creator marked unknown; a thread that
# blocks every signal is dumped like any other (no signal is needed).
source "$(dirname "$0")/../lib.sh"

"$BUILD/tests/programs/linked_threads_late" >"$T/out" 2>&1 &
PID=$!
PIDS+=("$PID")
await 20 grep -q '^ready' "$T/out" || fail "not ready: $(cat "$T/out")"
await 20 test -S "$(sock_of "$PID")" || fail "no socket"

ucurl "$PID" "/debug/pprof/goroutine?debug=2" -o "$T/g2" || fail "debug=2"
n=$(grep -c '^late_reader(' "$T/g2")
[ "$n" -eq 4 ] || { cat "$T/g2"; fail "$n late_reader threads in the dump, want 4"; }
awk -v RS= '/\nlate_reader\(/ {print; exit}' "$T/g2" >"$T/block"
head -1 "$T/block" | grep -Eq '^thread [0-9]+ "[^"]*" \[read, ≥[0-9]+ seconds? \(seen since\)\]:$' ||
	fail "reader header: $(head -1 "$T/block")"
grep -q '^created by ? (before nprof started' "$T/block" || fail "creator should be unknown: $(cat "$T/block")"
grep -q '^masked_sleeper(' "$T/g2" || fail "the thread that blocks all signals is missing"
ok "threads from before nprof_start appear, with stacks and reasons"

ucurl "$PID" "/debug/pprof/goroutine?debug=1" -o "$T/g1" || fail "debug=1"
head -1 "$T/g1" | grep -qx 'goroutine profile: total 6' || fail "$(head -1 "$T/g1")"
sed -n 2p "$T/g1" | grep -q '^4 @' || fail "the four readers are not one group: $(sed -n 2p "$T/g1")"
ok "debug=1 groups them"
kill -0 "$PID" || fail "process died"
