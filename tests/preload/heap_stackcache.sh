# heap_stackcache.sh - the heap recorder's stack cache never returns a
# wrong stack. At NPROF_HEAP_RATE=1 a thread remembers, per allocation
# call (return address, and the stack slot holding it), the return
# addresses above and the slots they were read from, and reuses the
# interned stack while every slot still holds its value. The program
# reaches one allocation site at the same stack position through two
# callers, the same caller under two grandparents, recursion of five
# depths, a longjmp, a signal handler and a ucontext coroutine,
# interleaved; every stack in the profile (go tool pprof -traces) must
# carry exactly the allocations made through it.
source "$(dirname "$0")/../lib.sh"

mkdir -p "$T/out"
LD_PRELOAD="$LIB" NPROF_HEAP_RATE=1 NPROF_SOCKET=off NPROF_OUT="$T/out" \
	"$BUILD/tests/programs/heap_stackcache" >"$T/prog.out" 2>&1 || {
	cat "$T/prog.out"
	fail "heap_stackcache exited with $?"
}
prof=$(ls "$T"/out/heap.*.pb.gz 2>/dev/null | head -1)
[ -n "$prof" ] || fail "no heap profile written"
pprof -traces -sample_index=alloc_objects "$prof" >"$T/traces.txt" ||
	fail "pprof -traces: $(cat "$T/pprof.err")"

python3 - "$T/prog.out" "$T/traces.txt" <<'PY' || exit 1
import re, sys
expect = []
for line in open(sys.argv[1]):
    if line.startswith("expect "):
        _, tag, n = line.split()
        seq = []
        for part in tag.split(":"):
            m = re.fullmatch(r"(\w+)\*(\d+)", part)
            seq += [m.group(1)] * int(m.group(2)) if m else [part]
        expect.append((tag, seq, int(n)))
traces, cur = [], None
for line in open(sys.argv[2]):
    if line.startswith("-----"):
        cur = None
        continue
    m = re.match(r"^\s+(\d+)\s+(\S+)", line)
    if cur is None and m:
        cur = [int(m.group(1)), [m.group(2)]]
        traces.append(cur)
    elif cur is not None and line.strip() and not line.strip().startswith("bytes:"):
        cur[1].append(line.split()[0])
site = [(n, fr[1:]) for n, fr in traces if fr and fr[0] == "site"]
bad = 0
for tag, seq, n in expect:
    got = sum(c for c, fr in site if fr[:len(seq)] == seq and
              (fr[len(seq):len(seq) + 1] != [seq[-1]]))
    if got != n:
        print(f"FAIL: {tag}: {got} allocations in the profile, the program made {n}")
        bad += 1
total = sum(n for _, _, n in expect)
seen = sum(c for c, _ in site)
if seen != total:
    print(f"FAIL: {seen} allocations at site() in all, the program made {total}")
    bad += 1
if bad:
    for c, fr in site:
        print(f"  {c:5d} site <- " + " <- ".join(fr[:8]))
    sys.exit(1)
print(f"ok: {len(expect)} ways to reach one call site, each with its exact stack and count")
PY
