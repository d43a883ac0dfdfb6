# attach_redis.sh - `nprof attach` on a real server under load: redis-server
# started without nprof serves redis-benchmark runs (20 clients, back to
# back) while nprof is attached, profiled, detached and attached again.
# Every benchmark run exits 0 without an error line, redis rejects no
# connection and keeps answering, the CPU and heap profiles taken while
# attached are valid for `go tool pprof -raw`, and the CPU profile has
# samples in redis's own code.
source "$(dirname "$0")/../lib.sh"
command -v redis-server >/dev/null || fail "redis-server missing (scripts/deps.sh test)"

port=$(free_port)
redis-server --port "$port" --bind 127.0.0.1 --save "" --appendonly no \
	--daemonize no >"$T/redis.out" 2>&1 &
RPID=$!
PIDS+=("$RPID")
await 20 redis-cli -p "$port" ping || fail "redis did not start: $(cat "$T/redis.out")"

# Benchmarks back to back until told to stop; each run's status is kept.
: >"$T/bench.status"
(
	i=0
	while [ ! -e "$T/stop" ]; do
		redis-benchmark -p "$port" -c 20 -n 4000 -t set,get,lpush,incr -q \
			>"$T/bench.$i" 2>&1
		echo "$i $?" >>"$T/bench.status"
		i=$((i + 1))
	done
) &
BENCH=$!
PIDS+=("$BENCH")
await 60 test -s "$T/bench.status" || fail "no benchmark run finished"

"$NPROF" attach "$RPID" 2>"$T/attach1" || fail "attach: $(cat "$T/attach1")"
ok "$(cat "$T/attach1")"
ucurl "$RPID" "/debug/pprof/profile?seconds=3" -o "$T/cpu.pb.gz" || fail "CPU profile"
pprof -raw "$T/cpu.pb.gz" >"$T/cpu.raw" || fail "CPU profile invalid: $(cat "$T/pprof.err")"
grep -Eq 'redis-server|processCommand|aeProcessEvents|readQueryFromClient' "$T/cpu.raw" ||
	fail "no redis frame in the CPU profile: $(head -40 "$T/cpu.raw")"
samples=$(awk '/^Samples:/ {s=1; next} /^Locations/ {s=0} s && /^ *[0-9]+ +[0-9]+:/ {n++} END {print n+0}' "$T/cpu.raw")
ucurl "$RPID" "/debug/pprof/heap" -o "$T/heap.pb.gz" || fail "heap profile"
pprof -raw "$T/heap.pb.gz" >/dev/null || fail "heap profile invalid: $(cat "$T/pprof.err")"
ok "CPU ($samples stacks) and heap profiles valid while attached"

"$NPROF" detach "$RPID" 2>"$T/detach" || fail "detach: $(cat "$T/detach")"
ok "$(cat "$T/detach")"
redis-cli -p "$port" ping | grep -q PONG || fail "redis does not answer after detach"
"$NPROF" attach "$RPID" 2>"$T/attach2" || fail "attach again: $(cat "$T/attach2")"
ok "again: $(cat "$T/attach2")"
ucurl "$RPID" "/debug/pprof/heap" -o "$T/heap2.pb.gz" || fail "heap profile after re-attach"
pprof -raw "$T/heap2.pb.gz" >/dev/null || fail "heap profile invalid: $(cat "$T/pprof.err")"
"$NPROF" stack "$RPID" >"$T/stack" || fail "nprof stack"
# The main thread is listed (in epoll_wait or running: it is under load).
grep -q "^thread $RPID \"redis-server\"" "$T/stack" || fail "redis's main thread not in the thread dump: $(head -30 "$T/stack")"
ok "profiles after the second attach"

# Let the run in progress finish, then judge every run.
runs_before=$(wc -l <"$T/bench.status")
more_runs() { [ "$(wc -l <"$T/bench.status")" -gt "$runs_before" ]; }
await 100 more_runs ||
	fail "benchmark stalled: ping $(timeout 5 redis-cli -p "$port" ping); $(ls -t "$T"/bench.* | head -1 | xargs tail -c 600)"
touch "$T/stop"
wait "$BENCH"
while read -r i rc; do
	[ "$rc" = 0 ] || fail "benchmark run $i exited $rc: $(cat "$T/bench.$i")"
	grep -Eiq 'error|reset|refused' "$T/bench.$i" && fail "benchmark run $i: $(cat "$T/bench.$i")"
done <"$T/bench.status"
rejected=$(redis-cli -p "$port" info stats | tr -d '\r' | awk -F: '/^rejected_connections:/ {print $2}')
[ "$rejected" = 0 ] || fail "redis rejected $rejected connections"
kill -0 "$RPID" || fail "redis died: $(cat "$T/redis.out")"
ok "$(wc -l <"$T/bench.status") benchmark runs, all clean; redis rejected 0 connections; last: $(tr '\r' '\n' <"$T/bench.$i" | grep -E 'requests per second' | tr '\n' ' ')"
