#!/bin/bash
# run.sh - `make bench`: every benchmark in one run, side by side with its
# anchors. Each piece measures with alternating runs and medians and
# saves its own table in bench/results/ (cpu.md, heap.md, threads.md,
# encode.md, ...); bench/summary.py then assembles the figures of the
# performance targets from those files into ONE table, printed first and
# saved with every piece's details in bench/results/latest.md. The
# pieces' previous results are moved aside first, so the summary never
# shows a figure from another run ("n/a" instead). Benchmarks never fail
# for being slow, nor for a piece that fails.
set -u
cd "$(dirname "$0")/.."
out=bench/results/latest.md
mkdir -p bench/results
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# PIECES: the pieces to run (default all); the summary still reads the
# others' latest results, and says where each figure comes from.
PIECES=${PIECES:-cpu heap threads encode fd locks check symbols leaks trace}
for f in $PIECES; do
	case $f in cpu | heap | threads | encode)
		[ -f "bench/results/$f.md" ] && mv "bench/results/$f.md" "$tmp/$f.prev.md" ;;
	esac
done
load0=$(cut -d' ' -f1-3 /proc/loadavg)
t0=$(date +%s)
: >"$tmp/details"   # PIECES=none: the summary alone, no details
for p in $PIECES; do
	b=bench/$p.sh
	[ -f "$b" ] || continue
	echo "== $b" >&2
	{
		echo
		bash "$b" || echo "($b failed)"
	} 2>&1 | tee -a "$tmp/details"
done
{
	echo "# nprof benchmarks"
	echo
	echo "$(date -u +%Y-%m-%d) on $(nproc) cores, $(uname -r), $(gcc --version | head -1);"
	echo "load average before: $load0, after: $(cut -d' ' -f1-3 /proc/loadavg); $(( $(date +%s) - t0 )) s;"
	echo "pieces run: $PIECES"
	echo
	python3 bench/summary.py bench/results || echo "(summary failed)"
	echo
	echo "## Details"
	cat "$tmp/details"
} >"$out.tmp"
mv "$out.tmp" "$out"
echo
sed -n '1,/^## Details/p' "$out" | head -n -1
echo "saved $out"
