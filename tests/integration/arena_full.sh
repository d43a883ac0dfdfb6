# arena_full.sh - nprof's memory for samples is full (NPROF_ARENA_MB=8,
# NPROF_HEAP_RATE=1, 16,384 distinct stacks, blocks replaced all the time):
# building responses never competes with sample storage. Every endpoint,
# /metrics and the index answer 200; every profile is complete and read by
# go tool pprof, and says how many samples were dropped.
source "$(dirname "$0")/../lib.sh"

export NPROF_ARENA_MB=8 NPROF_HEAP_RATE=1
"$NPROF" run -- "$BUILD/tests/programs/arena_fill" "$T/stop" >"$T/out" 2>"$T/err" &
PID=$!
PIDS+=("$PID")
await 60 grep -q '^ready' "$T/out" || fail "not ready: $(cat "$T/err")"
await 20 test -S "$(sock_of $PID)" || fail "no socket"

get() { # get PATH FILE: 200 or fail
	local code
	code=$(curl -s -o "$2" -w '%{http_code}' --max-time 60 --unix-socket "$(sock_of "$PID")" \
		"http://localhost$1")
	[ "$code" = 200 ] || fail "$1 answered $code: $(head -c 300 "$2")"
}
for round in 1 2 3; do
	get /debug/pprof/ "$T/index.html"
	grep -q heap "$T/index.html" || fail "index incomplete"
	get /metrics "$T/metrics.txt"
	grep -q '^nprof_' "$T/metrics.txt" || fail "metrics incomplete: $(head -5 "$T/metrics.txt")"
	for p in heap allocs goroutine threadcreate fd block mutex; do
		get "/debug/pprof/$p" "$T/$p.pb.gz"
		pprof -raw "$T/$p.pb.gz" >"$T/$p.raw" || fail "$p invalid: $(cat "$T/pprof.err")"
	done
	for p in heap goroutine fd leaks; do
		get "/debug/pprof/$p?debug=1" "$T/$p.txt"
	done
	get "/debug/pprof/profile?seconds=1" "$T/cpu.pb.gz"
	pprof -raw "$T/cpu.pb.gz" >/dev/null || fail "cpu invalid: $(cat "$T/pprof.err")"
done
drops=$(pprof -raw "$T/heap.pb.gz" | grep -o '[0-9]* heap samples dropped' | head -1)
[ -n "$drops" ] || fail "the heap profile does not count dropped samples"
n=${drops%% *}
[ "$n" -gt 0 ] || fail "the arena never filled (dropped: $drops); the test proves nothing"
samples=$(grep -c '^ *[0-9]' "$T/heap.raw")
[ "$samples" -gt 100 ] || fail "heap profile has only $samples samples"
touch "$T/stop"
wait "$PID" || fail "exit status $?"
ok "arena full ($drops): every endpoint answered 200 three times, profiles valid"
