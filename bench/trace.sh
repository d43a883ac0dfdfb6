#!/bin/bash
# trace.sh - what /debug/pprof/trace costs the traced program: the CPU
# time of the whole process (utime + stime of every thread, from
# /proc/PID/stat) over a 10-second trace, minus its CPU over 10 idle
# seconds, for processes with 10, 100 and 1,000 threads parked in
# pthread_cond_wait (tests/programs/threads_many). The difference is the
# poller's own CPU (100 Hz /proc reads, registry copies, a dump a second);
# as a share of one core it is the slowdown of a program that keeps one
# core busy (target: ≤ 2%). Prints a markdown table and saves it as
# bench/results/trace.md. Never fails for being slow.
set -u
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
bin=$BUILD/tests/programs/threads_many
[ -x "$bin" ] || make -s "$bin" >/dev/null
tmp=$(mktemp -d)
pid=
trap '[ -n "$pid" ] && kill -9 $pid 2>/dev/null; rm -rf "$tmp"' EXIT
export XDG_RUNTIME_DIR=$tmp/run
mkdir -p "$XDG_RUNTIME_DIR" && chmod 700 "$XDG_RUNTIME_DIR"
SECS=${TRACE_BENCH_SECONDS:-10}
hz=$(getconf CLK_TCK)

# cpu_ms PID: CPU time of the whole process so far, in ms.
cpu_ms() { awk -v hz="$hz" '{ sub(/.*\) /, ""); print ($12 + $13) * 1000 / hz }' "/proc/$1/stat"; }

load0=$(cut -d' ' -f1-3 /proc/loadavg)
table=$tmp/table
{
	echo "| threads | idle CPU (ms / ${SECS} s) | CPU while tracing (ms / ${SECS} s) | trace cost (% of one core) | trace size (gzipped) |"
	echo "| --- | --- | --- | --- | --- |"
} >"$table"
for n in 10 100 1000; do
	LD_PRELOAD=$PWD/$BUILD/libnprof.so "$bin" "$n" >"$tmp/out" 2>&1 &
	pid=$!
	for _ in $(seq 600); do grep -q "^ready" "$tmp/out" && break; sleep 0.1; done
	sock=$XDG_RUNTIME_DIR/nprof/$pid.sock
	for _ in $(seq 100); do [ -S "$sock" ] && break; sleep 0.1; done
	c0=$(cpu_ms "$pid")
	sleep "$SECS"
	c1=$(cpu_ms "$pid")
	curl -s --max-time 120 --unix-socket "$sock" "http://localhost/debug/pprof/trace?seconds=$SECS" -o "$tmp/trace.gz"
	c2=$(cpu_ms "$pid")
	idle=$(echo "$c1 - $c0" | bc)
	traced=$(echo "$c2 - $c1" | bc)
	pct=$(echo "($traced - $idle) / ($SECS * 10)" | bc -l)
	printf '| %d | %.0f | %.0f | %.2f%% | %d KiB |\n' "$n" "$idle" "$traced" "$pct" \
		"$(( $(stat -c %s "$tmp/trace.gz") / 1024 ))" >>"$table"
	kill -9 "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null
	pid=
done
{
	echo "Trace collection (/debug/pprof/trace, 100 Hz) cost to the traced process (target: ≤ 2% of one core)"
	echo
	cat "$table"
} | tee "$tmp/result"
mkdir -p bench/results
{
	echo "# Trace overhead"
	echo
	echo "$(date -u +%Y-%m-%d) on $(nproc) cores, $(uname -r); load average before: $load0"
	echo
	cat "$tmp/result"
} >bench/results/trace.md
