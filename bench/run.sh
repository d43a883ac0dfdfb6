#!/bin/bash
# run.sh - `make bench`: every benchmark in one run, side by side with its
# anchors, as ratios. Results are printed and saved in
# bench/results/latest.md. Benchmarks never fail for being slow.
set -u
cd "$(dirname "$0")/.."
out=bench/results/latest.md
{
	echo "# nprof benchmarks"
	echo
	echo "$(date -u +%Y-%m-%d) on $(nproc) cores, $(uname -r), $(gcc --version | head -1)"
	for b in bench/cpu.sh bench/heap.sh bench/threads.sh bench/fd.sh bench/locks.sh bench/check.sh bench/symbols.sh bench/leaks.sh bench/trace.sh; do
		[ -x "$b" ] || [ -f "$b" ] || continue
		echo
		bash "$b" || echo "($b failed)"
	done
} | tee "$out.tmp"
mv "$out.tmp" "$out"
echo "saved $out"
