#!/bin/bash
# heap.sh - the heap profiler's overhead, side by side in one run, as
# ratios against plain glibc (docs/reference.md §8): a malloc/free storm (1 and 2
# threads, 16-512 B, a live ring of 4096) and an allocation-heavy app
# workload, under
#   glibc alone | bare forwarding layer (bench/heap_bare.c: the floor of
#   any interposer) | nprof default rate | nprof rate 1 (every allocation) |
#   tcmalloc + TCMALLOC_SAMPLE_PARAMETER=524288 |
#   jemalloc MALLOC_CONF=prof:true,lg_prof_sample:19 | heaptrack
# Every configuration but heaptrack runs 5 times, alternating, and reports
# the median; heaptrack (tens of times slower) runs once. Then, with
# valgrind --tool=callgrind, the instructions of one malloc+free pair
# (heap_storm pairs: 16-271 B, amortized over 1,000,000 pairs, samples
# included) under glibc, the bare layer and nprof: a figure that does not
# depend on the machine's load. Prints a markdown section and saves it as
# bench/results/heap.md. Never fails for being slow; a tool that is
# missing is reported as such.
set -u
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
LIB=$(cd "$BUILD" && pwd)/libnprof.so
PROG=$BUILD/bench/heap_storm
OUT=bench/results/heap.md
TC=/usr/lib/x86_64-linux-gnu/libtcmalloc.so.4
JE=/usr/lib/x86_64-linux-gnu/libjemalloc.so.2
TMP=$(mktemp -d /tmp/nprof-heapbench.XXXXXX)
trap 'rm -rf "$TMP"' EXIT

BARE=$(cd "$BUILD" && pwd)/bench/heap_bare.so
mkdir -p "$BUILD/bench" bench/results
${CC:-cc} -std=gnu11 -O2 -g -pthread -o "$PROG" bench/heap_storm.c || exit 1
${CC:-cc} -std=gnu11 -O2 -g -shared -fPIC -o "$BARE" bench/heap_bare.c -ldl || exit 1

STORM_OPS=${STORM_OPS:-10000000}
APP_OPS=${APP_OPS:-100000}
workloads=("storm 1 $STORM_OPS" "storm 2 $STORM_OPS" "app $APP_OPS")
wnames=("storm, 1 thread" "storm, 2 threads" "app workload")
configs=(glibc bare nprof nprof_rate1 tcmalloc jemalloc heaptrack)
cnames=("glibc" "bare layer" "nprof default (512 KiB)" "nprof rate 1" "tcmalloc sampled" "jemalloc prof" "heaptrack")
timed=(glibc bare nprof nprof_rate1 tcmalloc jemalloc)

# run CONFIG ARGS...: prints the workload's elapsed seconds, or "-".
run() {
	local c=$1 e
	shift
	case $c in
	glibc) e=$("$PROG" "$@") ;;
	bare) e=$(LD_PRELOAD=$BARE "$PROG" "$@") ;;
	nprof) e=$(LD_PRELOAD=$LIB NPROF_SOCKET=off "$PROG" "$@") ;;
	nprof_rate1) e=$(LD_PRELOAD=$LIB NPROF_SOCKET=off NPROF_HEAP_RATE=1 "$PROG" "$@") ;;
	tcmalloc) [ -f $TC ] && e=$(LD_PRELOAD=$TC TCMALLOC_SAMPLE_PARAMETER=524288 "$PROG" "$@") ;;
	jemalloc) [ -f $JE ] && e=$(LD_PRELOAD=$JE MALLOC_CONF=prof:true,lg_prof_sample:19 \
		"$PROG" "$@" 2>"$TMP/je.err") ;;
	heaptrack) command -v heaptrack >/dev/null &&
		e=$(heaptrack -o "$TMP/ht" "$PROG" "$@" 2>/dev/null) ;;
	esac
	echo "${e:-}" | awk '/^elapsed/ { print $2; found = 1 } END { if (!found) print "-" }'
}

median() { tr ' ' '\n' | grep -v '^-$' | grep . | sort -g | awk '{ a[NR] = $1 } END { if (NR) print a[int((NR + 1) / 2)]; else print "-" }'; }

LOAD=$(cut -d' ' -f1-3 /proc/loadavg)
declare -A t
for w in 0 1 2; do
	declare -A runs=()
	for round in 1 2 3 4 5; do
		for c in "${timed[@]}"; do
			runs[$c]="${runs[$c]:-} $(run $c ${workloads[$w]})"
		done
	done
	for c in "${timed[@]}"; do
		t[$w,$c]=$(echo "${runs[$c]}" | median)
	done
	t[$w,heaptrack]=$(run heaptrack ${workloads[$w]})
	unset runs
done

# instructions PRELOAD [ENV...]: Ir per malloc+free pair, or "-".
PAIRS=1000000
instructions() {
	local pre=$1
	shift
	command -v valgrind >/dev/null || { echo -; return; }
	env LD_PRELOAD="$pre" NPROF_SOCKET=off "$@" valgrind --tool=callgrind --toggle-collect=pairs \
		--callgrind-out-file="$TMP/cg.out" "$PROG" pairs $PAIRS 2>&1 >/dev/null |
		awk -v n=$PAIRS '/Collected :/ { printf "%.1f", $NF / n; found = 1 } END { if (!found) print "-" }'
}
ir_glibc=$(instructions "")
ir_bare=$(instructions "$BARE")
ir_nprof=$(instructions "$LIB")
ir_rate1=$(instructions "$LIB" NPROF_HEAP_RATE=1)

jemalloc_note=""
if [ -f $JE ] && ! MALLOC_CONF=prof:true LD_PRELOAD=$JE true 2>&1 | grep -q .; then
	jemalloc_note="Debian's jemalloc accepts prof:true (built with profiling)."
else
	jemalloc_note="Debian's jemalloc may lack profiling: it warned about prof:true."
fi

{
	echo "# Heap profiling overhead (× plain glibc, lower is better)"
	echo
	echo "Run $(date -u +%Y-%m-%dT%H:%MZ) on $(nproc) CPUs (load average before: $LOAD);"
	echo "medians of 5 alternating runs (heaptrack: one run). glibc column: seconds."
	echo
	printf '| workload |'
	for i in "${!configs[@]}"; do printf ' %s |' "${cnames[$i]}"; done
	echo
	printf '| --- |'
	for c in "${configs[@]}"; do printf ' --- |'; done
	echo
	for w in 0 1 2; do
		printf '| %s |' "${wnames[$w]}"
		g=${t[$w,glibc]}
		for c in "${configs[@]}"; do
			v=${t[$w,$c]}
			if [ "$c" = glibc ]; then
				printf ' %ss |' "$v"
			elif [ "$v" = - ] || [ "$g" = - ]; then
				printf ' n/a |'
			else
				printf ' %s |' "$(echo "scale=2; $v / $g" | bc | sed 's/^\./0./')"
			fi
		done
		echo
	done
	echo
	echo "Instructions per malloc+free pair (callgrind, $PAIRS pairs of 16-271 B, samples"
	echo "included): glibc $ir_glibc, bare layer $ir_bare, nprof default $ir_nprof,"
	echo "nprof rate 1 $ir_rate1."
	echo
	echo "Targets: default rate storm ≤ 1.05×, app ≤ 1.02×; rate 1 storm ≤ 3× (1 thread),"
	echo "≤ 4× (2 threads), app ≤ 1.5×."
	echo "tcmalloc and jemalloc are other allocators: their ratio mixes allocator"
	echo "speed with profiling cost. $jemalloc_note"
} | tee "$OUT"
