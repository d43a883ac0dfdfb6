#!/bin/bash
# cpu.sh - the cost of CPU profiling at 100 Hz: a fixed two-thread workload
# run alone, under nprof with a profile being taken for its whole run, and
# under gperftools' CPUPROFILE at the same frequency: wall time and CPU
# time of the whole process (ITERS: work per thread, default cpu_work's). Runs alternate
# (A B C A B C ...) so drift hits all alike; medians are compared.
# Prints a markdown table and saves it as bench/results/cpu.md; never
# fails for being slow.
set -u
cd "$(dirname "$0")/.."
source bench/lib.sh
BUILD=${BUILD:-build}
ROUNDS=${ROUNDS:-5}
bin=$BUILD/bench/cpu_work
mkdir -p "$BUILD/bench"
cc -O2 -g -pthread -o "$bin" bench/cpu_work.c
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
export XDG_RUNTIME_DIR=$tmp/run
mkdir -p "$XDG_RUNTIME_DIR"
profiler=$(ls /usr/lib/x86_64-linux-gnu/libprofiler.so.0 2>/dev/null)

ITERS=${ITERS:-}
plain() { "$bin" "" $ITERS; }
nprof_on() {
	rm -f "$tmp/started"
	"$BUILD/nprof" run -- "$bin" "$tmp/started" $ITERS >"$tmp/out" &
	local pid=$!
	while [ ! -s "$tmp/started" ]; do sleep 0.01; done
	curl -s -o /dev/null --max-time 120 --unix-socket "$XDG_RUNTIME_DIR/nprof/$pid.sock" \
		"http://localhost/debug/pprof/profile?seconds=60" &
	wait $pid
	cat "$tmp/out"
}
gperf() { LD_PRELOAD=$profiler CPUPROFILE=$tmp/gperf.prof CPUPROFILE_FREQUENCY=100 "$bin" "" $ITERS 2>/dev/null; }

load0=$(cut -d' ' -f1-3 /proc/loadavg)
declare -A times cpus
kinds="plain nprof_on"
[ -n "$profiler" ] && kinds="$kinds gperf"
for r in $(seq "$ROUNDS"); do
	for k in $kinds; do
		read -r w c < <($k | tail -1)
		times[$k]+="$w "
		cpus[$k]+="$c "
	done
done
base=$(echo "${times[plain]}" | median)
cbase=$(echo "${cpus[plain]}" | median)
mkdir -p bench/results
{
	echo "CPU profile at 100 Hz, $(date -u +%Y-%m-%d) on $(nproc) cores; load average before: $load0"
	echo
	echo "| CPU profiling at 100 Hz (2 threads, fixed work) | median wall s | × no profiler | median CPU s (all threads) | × no profiler (CPU) |"
	echo "| --- | --- | --- | --- | --- |"
	for k in $kinds; do
		m=$(echo "${times[$k]}" | median)
		c=$(echo "${cpus[$k]}" | median)
		case $k in plain) label="no profiler" ;; nprof_on) label="nprof, profile running" ;; gperf) label="gperftools CPUPROFILE" ;; esac
		printf '| %s | %.3f | %.3f | %.3f | %.4f |\n' "$label" "$m" "$(echo "$m / $base" | bc -l)" \
			"$c" "$(echo "$c / $cbase" | bc -l)"
	done
	if [ -z "$profiler" ]; then
		echo "| gperftools CPUPROFILE | not installed | - | - | - |"
	fi
	echo
	echo "Load average after: $(cut -d' ' -f1-3 /proc/loadavg). The CPU-time ratio counts every thread of the process (the profiler's too) and is far less disturbed by other jobs than the wall time."
} | tee bench/results/cpu.md
