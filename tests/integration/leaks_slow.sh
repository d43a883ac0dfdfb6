# leaks_slow.sh - leaks near nprof's thresholds (300 KB/s of heap, 3
# descriptors/s, 3 threads/s) beside noise that grows for a while (a cache
# that fills then evicts, a pool that grows then holds, a table rebuilt in
# steps, bursts of requests), at nprof's default settings: each is named
# first by /debug/pprof/leaks (no parameters) within 15 s of its start
# (20 s allowed here for a loaded machine), with no noise line among the
# first three. scripts/leak_time.sh does the run; make bench runs each 20
# times.
source "$(dirname "$0")/../lib.sh"

for ex in heap_trickle fd_trickle thread_trickle; do
	BUILD=$BUILD "$ROOT/scripts/leak_time.sh" "$ex" 20 >"$T/$ex.txt" &
done
wait
for ex in heap_trickle fd_trickle thread_trickle; do
	grep -q '^named' "$T/$ex.txt" || fail "$ex: $(cat "$T/$ex.txt")"
	ok "$ex: $(cat "$T/$ex.txt") s"
done
