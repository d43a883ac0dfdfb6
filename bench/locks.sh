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
source bench/lib.sh
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

ab_run "$ROUNDS" none off on
ab_table "uncontended pthread_mutex_lock+unlock" 2 \
	"none=no nprof" \
	"off=nprof preloaded, block and mutex profiles off" \
	"on=nprof preloaded, NPROF_BLOCK_RATE=1 NPROF_MUTEX_FRACTION=1" | tee bench/results/locks.md
