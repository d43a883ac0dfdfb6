# heap_entry.sh - every allocation entry point under LD_PRELOAD at
# NPROF_HEAP_RATE=1: right results (alignment, zeroing, EINVAL, ENOMEM,
# usable size, realloc contents, errno) and exact accounting per call
# site, read by go tool pprof from the profile NPROF_OUT writes at exit;
# C++ new/new[]/sized/aligned/nothrow forms counted once; pointers from
# before nprof started freed and reallocated safely (linked mode).
source "$(dirname "$0")/../lib.sh"

names=(inuse_space inuse_objects alloc_space alloc_objects)

# check_expect OUT PROFILE: each "expect FUNC V1 V2 V3 V4" line of the
# program's output must equal the cumulative values of FUNC in PROFILE.
check_expect() {
	local out=$1 prof=$2 i n=0
	for i in 0 1 2 3; do
		pprof -top -nodefraction=0 -unit=B -sample_index=${names[$i]} "$prof" >"$T/top_$i.txt" ||
			fail "pprof -top ${names[$i]}: $(cat "$T/pprof.err")"
	done
	while read -r _ fn a b c d; do
		local want=("$a" "$b" "$c" "$d")
		for i in 0 1 2 3; do
			got=$(awk -v f="$fn" '$6 == f { v = $4; sub(/B$/, "", v); print v }' "$T/top_$i.txt")
			[ "$got" = "${want[$i]}" ] ||
				fail "$fn ${names[$i]}: profile says '${got}', the program counted ${want[$i]}"
		done
		n=$((n + 1))
	done < <(grep '^expect ' "$out")
	[ "$n" -gt 0 ] || fail "no expectations in $out"
	ok "$(basename "$out" .out): $n call sites exact in all four sample types"
}

# Semantics without nprof first: the program's own checks are sound.
"$BUILD/tests/programs/heap_entry" semantics >"$T/plain.out" 2>&1 || {
	cat "$T/plain.out"
	fail "heap_entry fails even without nprof"
}

for rate in 1 524288 4096; do
	LD_PRELOAD="$LIB" NPROF_HEAP_RATE=$rate NPROF_SOCKET=off \
		"$BUILD/tests/programs/heap_entry" semantics >"$T/sem_$rate.out" 2>&1 || {
		cat "$T/sem_$rate.out"
		fail "semantics under nprof at rate $rate"
	}
done
ok "semantics identical with and without nprof at rates 1, 4096, 524288"

mkdir -p "$T/out_c" "$T/out_cxx"
LD_PRELOAD="$LIB" NPROF_HEAP_RATE=1 NPROF_SOCKET=off NPROF_OUT="$T/out_c" \
	"$BUILD/tests/programs/heap_entry" >"$T/entry.out" 2>&1 || {
	cat "$T/entry.out"
	fail "heap_entry under nprof"
}
prof=$(ls "$T"/out_c/heap.*.pb.gz 2>/dev/null | head -1)
[ -n "$prof" ] || fail "NPROF_OUT wrote no heap profile: $(ls "$T/out_c")"
ls "$T"/out_c/heap.*.txt >/dev/null 2>&1 || fail "NPROF_OUT wrote no heap text beside the profile"
head -1 "$T"/out_c/heap.*.txt | grep -Eq '^heap profile: [0-9]+: [0-9]+ \[[0-9]+: [0-9]+\] @ heap/2$' ||
	fail "text header: $(head -1 "$T"/out_c/heap.*.txt)"
check_expect "$T/entry.out" "$prof"

LD_PRELOAD="$LIB" NPROF_HEAP_RATE=1 NPROF_SOCKET=off NPROF_OUT="$T/out_cxx" \
	"$BUILD/tests/programs/heap_cxx" >"$T/cxx.out" 2>&1 || {
	cat "$T/cxx.out"
	fail "heap_cxx under nprof"
}
grep -q misaligned "$T/cxx.out" && fail "aligned new returned a misaligned pointer"
check_expect "$T/cxx.out" "$(ls "$T"/out_cxx/heap.*.pb.gz | head -1)"

# Pointers from before nprof started: freed and reallocated safely.
"$BUILD/tests/programs/linked_heap_early" >"$T/early.out" 2>&1 || {
	cat "$T/early.out"
	fail "linked_heap_early"
}
grep -q 'early ok' "$T/early.out" || fail "linked_heap_early did not finish"
ok "free/realloc of NULL, of pre-nprof pointers and realloc(p, 0)"

# No nprof frame may start a stack: the leaf is the caller of malloc.
pprof -traces "$prof" >"$T/traces.txt" || fail "pprof -traces"
if grep -Eq 'malloc_slow|sampled_alloc|nprof__|unw_backtrace' "$T/traces.txt"; then
	fail "nprof's own frames in heap stacks"
fi
ok "no nprof frames in heap stacks"
