#!/bin/bash
# encode.sh - serving a heap profile of many distinct stacks, and nprof's
# own memory against the number of distinct stacks.
#
# bench/stacks_many.c allocates one 64-byte block from each of N distinct
# stacks (17-level call paths) and keeps them, under NPROF_HEAP_RATE=1
# (every allocation recorded). For N = 1,000, 10,000 and 50,000:
#   - GET /debug/pprof/heap (gzipped profile.proto) and heap?debug=1 (Go's
#     text: every frame of every stack on its own line), the first request
#     (symbolizer cold: libdw loads the modules) and the median of 3 later
#     ones; over the unix socket, as curl's time_total;
#   - nprof's memory: the process's RSS with nprof minus the same program
#     without it, before any request, right after them and 7 s later (the
#     arena gives back the big blocks it kept for reuse after 5 s), and
#     nprof's own accounting (nprof_memory_bytes of /metrics, read last),
#     against the target 8 MiB + 256 B per distinct stack.
# Prints a markdown table and saves it as bench/results/encode.md. Never
# fails for being slow.
set -u
cd "$(dirname "$0")/.."
source bench/lib.sh
BUILD=${BUILD:-build}
SIZES=${SIZES:-1000 10000 50000}
bin=$BUILD/bench/stacks_many
mkdir -p "$BUILD/bench"
cc -O2 -g -o "$bin" bench/stacks_many.c
tmp=$(mktemp -d)
pid=
trap '[ -n "$pid" ] && kill -9 $pid 2>/dev/null; rm -rf "$tmp"' EXIT
export XDG_RUNTIME_DIR=$tmp/run
mkdir -p "$XDG_RUNTIME_DIR" && chmod 700 "$XDG_RUNTIME_DIR"

rss_kb() { awk '/^VmRSS/ {print $2}' "/proc/$1/status"; }
# start N [ENV=V...]: runs stacks_many N in the background (PID in pid)
# until it says ready.
start() {
	local n=$1
	shift
	env "$@" "$bin" "$n" >"$tmp/out" 2>&1 &
	pid=$!
	for _ in $(seq 600); do grep -q "^ready" "$tmp/out" && return 0; sleep 0.1; done
	return 1
}
stop() { kill -9 "$pid" 2>/dev/null; wait "$pid" 2>/dev/null; pid=; }
get() { curl -s --max-time 300 --unix-socket "$XDG_RUNTIME_DIR/nprof/$pid.sock" -o "$tmp/body" -w '%{time_total}' "http://localhost$1"; }

load0=$(cut -d' ' -f1-3 /proc/loadavg)
table=$tmp/table
{
	echo "| distinct stacks | heap proto first / later (s) | proto bytes | heap?debug=1 first / later (s) | debug=1 MB | nprof RSS before / after requests / 7 s later (MiB) | nprof_memory_bytes (MiB) | target (MiB) |"
	echo "| --- | --- | --- | --- | --- | --- | --- | --- |"
} >"$table"
for n in $SIZES; do
	start "$n" || { echo "(stacks_many $n did not start)"; stop; continue; }
	plain=$(rss_kb "$pid")
	stop
	start "$n" NPROF_HEAP_RATE=1 LD_PRELOAD="$PWD/$BUILD/libnprof.so" || { echo "(stacks_many $n under nprof did not start)"; stop; continue; }
	for _ in $(seq 100); do [ -S "$XDG_RUNTIME_DIR/nprof/$pid.sock" ] && break; sleep 0.1; done
	before=$(rss_kb "$pid")
	p1=$(get /debug/pprof/heap)
	pl=""
	for _ in 1 2 3; do pl+="$(get /debug/pprof/heap) "; done
	pbytes=$(stat -c %s "$tmp/body")
	d1=$(get "/debug/pprof/heap?debug=1")
	dl=""
	for _ in 1 2 3; do dl+="$(get "/debug/pprof/heap?debug=1") "; done
	dbytes=$(stat -c %s "$tmp/body")
	after=$(rss_kb "$pid")
	# The arena keeps freed big blocks for 5 s after the last request;
	# the snapshot thread's tick gives them back.
	sleep 7
	idle=$(rss_kb "$pid")
	get /metrics >/dev/null
	arena=$(awk '/^nprof_memory_bytes / {print $2}' "$tmp/body")
	stop
	printf '| %d | %.3f / %.3f | %d | %.2f / %.2f | %.1f | %.1f / %.1f / %.1f | %.1f | %.1f |\n' "$n" \
		"$p1" "$(echo "$pl" | median)" "$pbytes" "$d1" "$(echo "$dl" | median)" \
		"$(echo "$dbytes / 1048576" | bc -l)" \
		"$(echo "($before - $plain) / 1024" | bc -l)" "$(echo "($after - $plain) / 1024" | bc -l)" \
		"$(echo "($idle - $plain) / 1024" | bc -l)" \
		"$(echo "${arena:-0} / 1048576" | bc -l)" "$(echo "8 + $n * 256 / 1048576" | bc -l)" >>"$table"
done
{
	echo "Heap profile of N distinct stacks at NPROF_HEAP_RATE=1 (targets: proto ≤ 0.2 s at 50,000; memory ≤ 8 MiB + 256 B per stack)"
	echo
	cat "$table"
} | tee "$tmp/result"
mkdir -p bench/results
{
	echo "# Encoding and nprof's memory"
	echo
	echo "$(date -u +%Y-%m-%d) on $(nproc) cores, $(uname -r); load average before: $load0"
	echo
	cat "$tmp/result"
} >bench/results/encode.md
