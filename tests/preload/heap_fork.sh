# heap_fork.sh - 100 rounds of fork while 8 threads allocate, under nprof
# at a low sampling rate (most blocks sampled) and at rate 1 (every block
# sampled): no child hangs, each child allocates and frees inherited
# blocks, and the parent's profile is still served afterwards.
source "$(dirname "$0")/../lib.sh"

for rate in 4096 1; do
	LD_PRELOAD="$LIB" NPROF_HEAP_RATE=$rate timeout 150 \
		"$BUILD/tests/programs/heap_fork" >"$T/fork_$rate.out" 2>&1 || {
		cat "$T/fork_$rate.out"
		fail "fork rounds at rate $rate"
	}
	grep -q 'forks ok' "$T/fork_$rate.out" || fail "heap_fork did not finish at rate $rate"
	ok "100 fork rounds with 8 allocating threads at rate $rate"
done

# The served profile after the fork storm, from a long-lived parent.
start_under_nprof "$T/mixed.out" -- "$BUILD/tests/programs/heap_mixed" 0.05 5
await 60 grep -q '^ready' "$T/mixed.out" || fail "heap_mixed never got ready"
ucurl "$PID" /debug/pprof/heap -o "$T/heap.pb.gz" || fail "curl heap"
pprof -top "$T/heap.pb.gz" >"$T/top.txt" || fail "pprof: $(cat "$T/pprof.err")"
grep -q alloc_large "$T/top.txt" || fail "profile lacks the program's sites"
ok "profile served"
