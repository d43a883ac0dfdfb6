# heap_jemalloc.sh - jemalloc (Debian libjemalloc2) preloaded together with
# nprof, in both orders. nprof first: nprof forwards to jemalloc, samples,
# and the profile shows the program's sites. jemalloc first: jemalloc owns
# malloc, nprof stays out of the way (one warning), the profile is served.
# Neither order may crash or mix up whose free gets whose block.
source "$(dirname "$0")/../lib.sh"

JE=/usr/lib/x86_64-linux-gnu/libjemalloc.so.2
[ -f "$JE" ] || fail "libjemalloc2 is not installed (scripts/deps.sh test installs it)"

for order in "$LIB:$JE" "$JE:$LIB"; do
	name=$([ "${order%%:*}" = "$LIB" ] && echo nprof-first || echo jemalloc-first)
	# A program using every entry point and C++ new/delete, to completion.
	LD_PRELOAD="$order" NPROF_HEAP_RATE=4096 NPROF_SOCKET=off \
		"$BUILD/tests/programs/heap_cxx" >"$T/cxx_$name.out" 2>&1 ||
		fail "$name: heap_cxx: $(cat "$T/cxx_$name.out")"
	LD_PRELOAD="$order" NPROF_HEAP_RATE=4096 NPROF_SOCKET=off \
		"$BUILD/tests/programs/heap_fork" >"$T/fork_$name.out" 2>&1 ||
		fail "$name: heap_fork: $(cat "$T/fork_$name.out")"

	LD_PRELOAD="$order" NPROF_HEAP_RATE=65536 "$BUILD/tests/programs/heap_mixed" 0.05 3 \
		>"$T/mixed_$name.out" 2>&1 &
	PID=$!
	PIDS+=("$PID")
	await 60 grep -q '^ready' "$T/mixed_$name.out" || fail "$name: heap_mixed: $(cat "$T/mixed_$name.out")"
	await 20 test -S "$(sock_of "$PID")" || fail "$name: no socket"
	grep -q "jemalloc\|je_" /proc/"$PID"/maps || fail "$name: jemalloc not loaded"
	ucurl "$PID" /debug/pprof/heap -o "$T/heap_$name.pb.gz" || fail "$name: curl heap"
	pprof -top "$T/heap_$name.pb.gz" >"$T/top_$name.txt" || fail "$name: pprof: $(cat "$T/pprof.err")"
	if [ "$name" = nprof-first ]; then
		grep -q alloc_large "$T/top_$name.txt" || fail "$name: the program's sites are missing"
	else
		grep -q "another malloc was preloaded" "$T/mixed_$name.out" ||
			fail "$name: no warning that nprof stands aside"
	fi
	kill "$PID"
	ok "$name: no crash, profile served"
done
