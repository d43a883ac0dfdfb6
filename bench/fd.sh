#!/bin/bash
# fd.sh - the cost of an open+close pair (the fd profile's hot path):
# no nprof; nprof linked but not started ("off": the overrides forward
# at once); nprof preloaded and running (every open records its stack).
# Alternating runs, medians. Prints a markdown table and saves it as
# bench/results/fd.md; never fails for being slow.
set -u
cd "$(dirname "$0")/.."
source bench/lib.sh
BUILD=${BUILD:-build}
ROUNDS=${ROUNDS:-5}
N=${N:-200000}
DEPTH=${DEPTH:-10}
mkdir -p "$BUILD/bench" bench/results
cc -std=gnu11 -O2 -g -o "$BUILD/bench/fd_bench" bench/fd_bench.c
cc -std=gnu11 -O2 -g -DLINKED -o "$BUILD/bench/fd_bench_linked" bench/fd_bench.c \
	-L"$BUILD" -lnprof -Wl,--no-as-needed -Wl,-rpath,"$(cd "$BUILD" && pwd)"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
export XDG_RUNTIME_DIR=$tmp/run
mkdir -p "$XDG_RUNTIME_DIR"

none() { "$BUILD/bench/fd_bench" "$N" "$DEPTH"; }
off() { "$BUILD/bench/fd_bench_linked" "$N" "$DEPTH"; }
on() { LD_PRELOAD="$BUILD/libnprof.so" "$BUILD/bench/fd_bench" "$N" "$DEPTH"; }

ab_run "$ROUNDS" none off on
ab_table "open+close of /dev/null, $DEPTH frames deep" 1 \
	"none=no nprof" \
	"off=nprof linked, not started (overrides forward)" \
	"on=nprof preloaded and running (stack recorded per open)" | tee bench/results/fd.md
