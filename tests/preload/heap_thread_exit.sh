# heap_thread_exit.sh - every allocation recorded (NPROF_HEAP_RATE=1) on
# threads that return, call pthread_exit, or leave with a raw exit system
# call that runs no destructor, in waves that outnumber the per-thread
# states given back (so states are reused and a dead owner's is taken
# over): the heap profile written at exit (go tool pprof -traces) must
# count every allocation and every block still alive exactly.
source "$(dirname "$0")/../lib.sh"

mkdir -p "$T/out"
LD_PRELOAD="$LIB" NPROF_HEAP_RATE=1 NPROF_SOCKET=off NPROF_OUT="$T/out" \
	"$BUILD/tests/programs/heap_thread_exit" >"$T/prog.out" 2>&1 || {
	cat "$T/prog.out"
	fail "heap_thread_exit exited with $?"
}
prof=$(ls "$T"/out/heap.*.pb.gz 2>/dev/null | head -1)
[ -n "$prof" ] || fail "no heap profile written"
for idx in alloc_objects inuse_objects; do
	pprof -traces -sample_index=$idx "$prof" >"$T/$idx.txt" ||
		fail "pprof -traces: $(cat "$T/pprof.err")"
done

python3 - "$T/prog.out" "$T/alloc_objects.txt" "$T/inuse_objects.txt" <<'PY' || exit 1
import re, sys
def leaf_counts(path):
    out, cur = {}, None
    for line in open(path):
        if line.startswith("-----"):
            cur = None
            continue
        m = re.match(r"^\s+(\d+)\s+(\S+)", line)
        if cur is None and m:
            cur = m.group(2)
            out[cur] = out.get(cur, 0) + int(m.group(1))
    return out
allocs, inuse = leaf_counts(sys.argv[2]), leaf_counts(sys.argv[3])
bad = 0
for line in open(sys.argv[1]):
    if not line.startswith("expect "):
        continue
    _, fn, a, u = line.split()
    if allocs.get(fn, 0) != int(a) or inuse.get(fn, 0) != int(u):
        print(f"FAIL: {fn}: profile {allocs.get(fn, 0)} allocations, {inuse.get(fn, 0)} in use; "
              f"the program made {a}, {u} in use")
        bad += 1
    else:
        print(f"ok: {fn}: {a} allocations, {u} in use, exact")
sys.exit(1 if bad else 0)
PY
