# real_redis.sh - a program nprof did not write: redis-server under
# LD_PRELOAD, loaded by redis-benchmark, serves every profile readable by
# go tool pprof, and answers the benchmark as it does without nprof.
source "$(dirname "$0")/../lib.sh"
source "$(dirname "$0")/../real_lib.sh"

command -v redis-server >/dev/null && command -v redis-benchmark >/dev/null ||
	fail "redis-server/redis-benchmark missing (scripts/deps.sh test installs them)"
rport=$(free_port)
"$NPROF" run -- redis-server --port "$rport" --bind 127.0.0.1 --save '' --appendonly no \
	--dir "$T" >"$T/redis.out" 2>&1 &
PID=$!
PIDS+=("$PID")
await 20 test -S "$(sock_of $PID)" || fail "no nprof socket in redis: $(cat "$T/redis.out")"
pong() { [ "$(redis-cli -p "$rport" ping 2>/dev/null)" = PONG ]; }
await 20 pong || fail "redis does not answer: $(cat "$T/redis.out")"

# Load while a CPU profile runs, then every profile.
ucurl "$PID" "/debug/pprof/profile?seconds=3" -o "$T/cpu.pb.gz" &
cpu=$!
redis-benchmark -p "$rport" -q -n 20000 -c 20 -t set,get,lpush,lpop 2>&1 | tr '\r' '\n' >"$T/bench.txt" ||
	fail "redis-benchmark failed: $(cat "$T/bench.txt")"
wait $cpu || fail "CPU profile request"
grep -Eq '^ *SET: [0-9.]+ requests per second' "$T/bench.txt" || fail "benchmark output: $(cat "$T/bench.txt")"
pprof -top "$T/cpu.pb.gz" >"$T/cpu.txt" || fail "CPU profile unreadable: $(cat "$T/pprof.err")"
grep -q '^File: redis' "$T/cpu.txt" || fail "CPU profile's main binary is not redis: $(head -2 "$T/cpu.txt")"
for p in heap allocs goroutine threadcreate fd; do
	ucurl "$PID" "/debug/pprof/$p" -o "$T/$p.pb.gz" || fail "$p request"
	pprof -raw "$T/$p.pb.gz" >/dev/null || fail "$p unreadable: $(cat "$T/pprof.err")"
done
ucurl "$PID" "/debug/pprof/goroutine?debug=1" | grep -q '^goroutine profile: total [1-9]' || fail "thread text"
ucurl "$PID" "/debug/pprof/leaks?format=json" | python3 -m json.tool >/dev/null || fail "leaks JSON"
ucurl "$PID" /metrics | grep -q '^nprof_threads [1-9]' || fail "metrics"
own_fds "$PID"
[ "$(redis-cli -p "$rport" dbsize)" -gt 0 ] || fail "redis lost its keys"
redis-cli -p "$rport" shutdown nosave >/dev/null 2>&1
await 10 bash -c "! kill -0 $PID 2>/dev/null" || fail "redis did not shut down"
grep -qi 'ready to exit' "$T/redis.out" || fail "redis did not exit cleanly: $(tail -5 "$T/redis.out")"
ok "redis under load: $(grep -E '^ *(SET|GET): [0-9.]+ requests' "$T/bench.txt" | sed 's/, p50.*//' | tr '\n' ' ')nprof's own descriptors: $OWN_FDS"
