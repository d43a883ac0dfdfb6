#!/bin/bash
# http.sh - what serving each profile costs the profiled program: CPU time
# (user + system, all its threads) per request, fetched over the unix
# socket from a program whose own threads are parked (so every tick
# counted is serving), with THREADS threads (default 200) and a heap
# profile of some stacks. Prints a markdown table.
#
#   bench/http.sh [REQUESTS] [THREADS]
set -eu
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
N=${1:-20}
THREADS=${2:-200}
T=$(mktemp -d)
export XDG_RUNTIME_DIR=$T
trap 'kill $PID 2>/dev/null; rm -rf "$T"' EXIT
NPROF_HEAP_RATE=1 LD_PRELOAD=$PWD/$BUILD/libnprof.so \
	"$BUILD/tests/programs/threads_many" "$THREADS" >"$T/out" 2>&1 &
PID=$!
for _ in $(seq 200); do grep -q ready "$T/out" 2>/dev/null && break; sleep 0.1; done
SOCK=$T/nprof/$PID.sock
ticks() { awk '{print $14 + $15}' "/proc/$PID/stat"; }
hz=$(getconf CLK_TCK)
echo "| request ($THREADS threads) | CPU ms per request | bytes |"
echo "| --- | --- | --- |"
for path in "" "heap" "heap?debug=1" "allocs" "goroutine" "goroutine?debug=1" \
	"goroutine?debug=2" "threadcreate" "fd" "fd?debug=1" "block" "mutex" "leaks" \
	"../../metrics"; do
	url="http://localhost/debug/pprof/$path"
	curl -s --unix-socket "$SOCK" -o /dev/null "$url" # warm-up (symbol tables)
	t0=$(ticks)
	for _ in $(seq "$N"); do
		bytes=$(curl -s --unix-socket "$SOCK" -o /dev/null -w '%{size_download}' "$url")
	done
	t1=$(ticks)
	ms=$(echo "scale=2; ($t1 - $t0) * 1000 / $hz / $N" | bc)
	echo "| /debug/pprof/${path#../../} | $ms | $bytes |" | sed 's|/debug/pprof/metrics|/metrics|'
done
