#!/bin/bash
# cpu.sh - the cost of CPU profiling at 100 Hz: a fixed two-thread workload
# run alone, under nprof with a profile being taken for its whole run, and
# under gperftools' CPUPROFILE at the same frequency. Runs alternate
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

plain() { "$bin"; }
nprof_on() {
	rm -f "$tmp/started"
	"$BUILD/nprof" run -- "$bin" "$tmp/started" >"$tmp/out" &
	local pid=$!
	while [ ! -e "$tmp/started" ]; do sleep 0.01; done
	curl -s -o /dev/null --max-time 120 --unix-socket "$XDG_RUNTIME_DIR/nprof/$pid.sock" \
		"http://localhost/debug/pprof/profile?seconds=60" &
	wait $pid
	cat "$tmp/out"
}
gperf() { LD_PRELOAD=$profiler CPUPROFILE=$tmp/gperf.prof CPUPROFILE_FREQUENCY=100 "$bin" 2>/dev/null; }

declare -A times
kinds="plain nprof_on"
[ -n "$profiler" ] && kinds="$kinds gperf"
for r in $(seq "$ROUNDS"); do
	for k in $kinds; do
		times[$k]+="$($k | tail -1) "
	done
done
base=$(echo "${times[plain]}" | median)
mkdir -p bench/results
{
	echo "| CPU profiling at 100 Hz (2 threads, fixed work) | median s | × no profiler |"
	echo "| --- | --- | --- |"
	for k in $kinds; do
		m=$(echo "${times[$k]}" | median)
		case $k in plain) label="no profiler" ;; nprof_on) label="nprof, profile running" ;; gperf) label="gperftools CPUPROFILE" ;; esac
		printf '| %s | %.3f | %.3f |\n' "$label" "$m" "$(echo "$m / $base" | bc -l)"
	done
	if [ -z "$profiler" ]; then
		echo "| gperftools CPUPROFILE | not installed | - |"
	fi
} | tee bench/results/cpu.md
