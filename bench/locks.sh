#!/bin/bash
# locks.sh - the cost of an uncontended pthread_mutex_lock+unlock pair
# (the hot path of every critical section): no nprof; nprof preloaded and
# running with the block and mutex profiles off (the default); and with
# both on at their most expensive (NPROF_BLOCK_RATE=1,
# NPROF_MUTEX_FRACTION=1). Uncontended pairs never wait, so "on" costs
# what "off" does: the profiles pay only when a thread really blocks.
# open+close pairs are in fd.sh. Alternating runs, medians. Prints a
# markdown table and saves it as bench/results/locks.md; never fails for
# being slow. Target: <= 2 ns added per pair with the rates off.
set -u
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
ROUNDS=${ROUNDS:-7}
N=${N:-20000000}
mkdir -p "$BUILD/bench" bench/results
cc -std=gnu11 -O2 -g -pthread -o "$BUILD/bench/locks_bench" bench/locks_bench.c
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
export XDG_RUNTIME_DIR=$tmp/run
mkdir -p "$XDG_RUNTIME_DIR"

none() { "$BUILD/bench/locks_bench" "$N"; }
off() { LD_PRELOAD="$BUILD/libnprof.so" "$BUILD/bench/locks_bench" "$N"; }
on() {
	NPROF_BLOCK_RATE=1 NPROF_MUTEX_FRACTION=1 LD_PRELOAD="$BUILD/libnprof.so" \
		"$BUILD/bench/locks_bench" "$N"
}

declare -A ns
for r in $(seq "$ROUNDS"); do
	for k in none off on; do
		ns[$k]+="$($k) "
	done
done
median() { tr ' ' '\n' | grep . | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
base=$(echo "${ns[none]}" | median)
{
	echo "| uncontended pthread_mutex_lock+unlock | median ns/pair | added ns | × no nprof |"
	echo "| --- | --- | --- | --- |"
	for k in none off on; do
		m=$(echo "${ns[$k]}" | median)
		case $k in
		none) label="no nprof" ;;
		off) label="nprof preloaded, block and mutex profiles off" ;;
		on) label="nprof preloaded, NPROF_BLOCK_RATE=1 NPROF_MUTEX_FRACTION=1" ;;
		esac
		printf '| %s | %.2f | %+.2f | %.3f |\n' "$label" "$m" "$(echo "$m - $base" | bc -l)" \
			"$(echo "$m / $base" | bc -l)"
	done
} | tee bench/results/locks.md
