# heap_timer_leak.sh - docs/incidents.md 2 (a timer per loop turn): between two
# heap profiles of examples/timer_leak, `go tool pprof -base` shows the
# timer allocation line as the top in-use growth, not the stable pool, the
# table built once, or the per-message scratch buffer.
source "$(dirname "$0")/../lib.sh"

src="$ROOT/examples/timer_leak.c"
leak_line=$(grep -n 'LEAK: a fresh timer' "$src" | cut -d: -f1)

start_under_nprof "$T/broker.out" -- "$BUILD/examples/timer_leak"
await 30 grep -q '^serving' "$T/broker.out" || fail "timer_leak never served"
turns() { awk '/^turns/ { n = $2 } END { print n + 0 }' "$T/broker.out"; }

ucurl "$PID" /debug/pprof/heap -o "$T/base.pb.gz" || fail "curl base profile"
start=$(turns)
# Wait for ~200,000 more turns: ~25 MiB of timers, about 50 samples.
grown() { [ "$(turns)" -ge $((start + 200000)) ]; }
await 60 grown || fail "the broker made no progress: $(tail -2 "$T/broker.out")"
ucurl "$PID" /debug/pprof/heap -o "$T/now.pb.gz" || fail "curl second profile"

pprof -top -lines -sample_index=inuse_space -base "$T/base.pb.gz" "$T/now.pb.gz" >"$T/diff.txt" ||
	fail "pprof -base: $(cat "$T/pprof.err")"
cat "$T/diff.txt"
first=$(awk '/flat%/ { getline; print; exit }' "$T/diff.txt")
echo "$first" | grep -q "after .*timer_leak\.c:$leak_line" ||
	fail "top in-use growth is not the timer line timer_leak.c:$leak_line: $first"
ok "top in-use growth: timer_leak.c:$leak_line (the timer per loop turn)"
