# nprof_fds.sh - how many descriptors nprof itself holds, at idle and after
# a first heap and goroutine profile, printed as lists (ls -l /proc/PID/fd)
# and compared with the same program without nprof.
#
# The bound at idle, with only the unix socket (the default), is 4 (it was
# 5 while the gate had an eventfd of its own to be woken for stop; stop
# now shuts the listening socket down, which wakes its poll):
#   - the unix listening socket;
#   - libmicrohttpd's eventfd (MHD_USE_ITC: stop and handed-over
#     connections wake its polling thread; libmicrohttpd 0.9.75 forces it
#     with MHD_USE_NO_LISTEN_SOCKET and has no way to share one);
#   - libunwind's pipe, 2 descriptors: libunwind 1.6 opens it
#     unconditionally when it initialises (tdep_init ->
#     tdep_init_mem_validate), keeps the numbers in a hidden static and,
#     if a read of it fails, closes those numbers and reopens it. nprof
#     cannot close it: libunwind would later close whatever the program
#     then holds under those numbers. Every validation (mincore and msync
#     alike) ends in a write to it; only libunwind 1.8 opens it lazily,
#     per thread.
# After a profile is symbolized, libdw keeps each separate debug file it
# read open (one here, libc's, when its debug symbols are installed) until
# the symbols are unused for 5 minutes (NPROF_SYM_IDLE_NS); each ELF file is
# opened once (/proc/PID/map_files) and closed.
source "$(dirname "$0")/../lib.sh"

PROG="$BUILD/examples/heap_trickle"
fds() { # the descriptor lines of pid $1, "N -> target", sorted
	ls -l "/proc/$1/fd" 2>/dev/null | awk 'NR > 1 {print $9, $10, $11}' | sort
}

"$PROG" 300 120 >/dev/null 2>&1 &
BASE=$!
PIDS+=("$BASE")
await 10 test -e "/proc/$BASE/fd/0" || fail "program did not start"
fds "$BASE" >"$T/base"
kill "$BASE"

# Both runs write to /dev/null, so the program's own lines compare equal.
LD_PRELOAD="$LIB" "$PROG" 300 120 >/dev/null 2>&1 &
PID=$!
PIDS+=("$PID")
SOCK=$(sock_of "$PID")
await 20 test -S "$SOCK" || fail "no socket"
# heap_trickle allocates 300 times a second: the heap profiler has sampled
# (and so libunwind opened its pipe) once a heap sample shows in /metrics.
sampled() {
	curl -s --max-time 10 --unix-socket "$SOCK" http://localhost/metrics |
		awk '/^nprof_heap_alloc_bytes_total/ && $2 > 0 {f=1} END {exit !f}'
}
await 20 sampled || fail "no heap sample in /metrics"
fds "$PID" >"$T/idle"
own_idle=$(comm -13 "$T/base" "$T/idle")
n_idle=$(printf '%s\n' "$own_idle" | grep -c . || true)
echo "without nprof: $(wc -l <"$T/base") descriptors"
echo "nprof's own at idle ($n_idle):"
printf '%s\n' "$own_idle" | sed 's/^/  /'
[ "$n_idle" -le 4 ] || fail "nprof holds $n_idle descriptors at idle (bound 4)"

for path in /debug/pprof/heap '/debug/pprof/goroutine?debug=1'; do
	code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 60 --unix-socket "$SOCK" "http://localhost$path")
	[ "$code" = 200 ] || fail "$path: $code"
done
fds "$PID" >"$T/after"
own_after=$(comm -13 "$T/base" "$T/after")
n_after=$(printf '%s\n' "$own_after" | grep -c . || true)
echo "nprof's own after a heap and a goroutine profile ($n_after):"
printf '%s\n' "$own_after" | sed 's/^/  /'
# Beyond the idle set, only files libdw keeps for the symbols it read.
extra=$(comm -13 "$T/idle" "$T/after" | grep -v -e '\.debug$' -e '\.so[.0-9]*$' -e "$PROG\$" || true)
[ -z "$extra" ] || fail "after the profiles nprof also holds: $extra"
ok "nprof holds $n_idle descriptors at idle (bound 4), $n_after after the first profiles"
