# symbols_debuginfod.sh - a stripped program's names and lines come from a
# debuginfod server: the real `debuginfod` (elfutils), indexing a
# directory with the debug file (-F), asked by nprof through
# libdebuginfod within the request's time budget, cached in the test's
# directory; NPROF_DEBUGINFOD=0 never asks it. debuginfod 0.188 cannot
# bind to loopback only, so the test runs in a private network namespace
# (unshare -n) where loopback is the only interface.
if [ -z "${NPROF_IN_NETNS:-}" ]; then
	if ! unshare -n true 2>/dev/null; then
		echo "FAIL: unshare -n is not permitted; this test runs debuginfod in a private network namespace" >&2
		exit 1
	fi
	exec env NPROF_IN_NETNS=1 unshare -n bash "$0" "$@"
fi
ip link set lo up || { echo "FAIL: cannot bring up lo in the namespace" >&2; exit 1; }
source "$(dirname "$0")/../lib.sh"
command -v debuginfod >/dev/null || fail "debuginfod missing (scripts/deps.sh test installs it)"
source "$(dirname "$0")/symbols_lib.inc"
id=$(readelf -n "$SRC" | awk '/Build ID:/ {print $3}')
[ -n "$id" ] || fail "busy has no build ID"

# debuginfod: the real server on loopback, indexing a directory with the
# debug file; the client caches in the test's directory.
mkdir -p "$T/dfd/files" "$T/dfd/bin"
strip --strip-all -o "$T/dfd/bin/busy" "$SRC"
objcopy --only-keep-debug "$SRC" "$T/dfd/files/busy.debug"
dport=$(free_port)
debuginfod -p "$dport" -d "$T/dfd/db.sqlite" -F "$T/dfd/files" -t 0 -g 0 -c 1 >"$T/dfd/log" 2>&1 &
DPID=$!
PIDS+=("$DPID")
# Wait until the server answers for this build ID (its first scan is done).
indexed() { curl -sf -o /dev/null "http://127.0.0.1:$dport/buildid/$id/debuginfo"; }
await 60 indexed || fail "debuginfod never served $id: $(tail -5 "$T/dfd/log")"
profiles "$T/dfd/bin" debuginfod lines NPROF_DEBUG_DIRS="$T/nothing" \
	DEBUGINFOD_URLS="http://127.0.0.1:$dport" DEBUGINFOD_CACHE_PATH="$T/dfd/cache"
ls "$T/dfd/cache/$id/debuginfo" >/dev/null || fail "nothing in the debuginfod cache"
# NPROF_DEBUGINFOD=0: the server is never asked.
profiles "$T/dfd/bin" debuginfod-off none NPROF_DEBUG_DIRS="$T/nothing" NPROF_DEBUGINFOD=0 \
	DEBUGINFOD_URLS="http://127.0.0.1:$dport" DEBUGINFOD_CACHE_PATH="$T/dfd/cache2"
[ ! -e "$T/dfd/cache2/$id" ] || fail "NPROF_DEBUGINFOD=0 still asked the server"
grep -q 'busy+0x' "$T/debuginfod-off.cpu.txt" || fail "debuginfod off: names came from somewhere"
ok "NPROF_DEBUGINFOD=0: no request, module+0xOFFSET names"

# A budget of 0 ms: the first profile is answered at once with what is
# known (module+0xOFFSET); the fetch goes on, and a later profile has the
# names and lines.
NPROF_HEAP_RATE=1 NPROF_DEBUG_DIRS="$T/nothing" NPROF_DEBUGINFOD_MS=0 \
	DEBUGINFOD_URLS="http://127.0.0.1:$dport" DEBUGINFOD_CACHE_PATH="$T/dfd/cache3" \
	"$NPROF" run -- "$T/dfd/bin/busy" >"$T/budget.out" 2>&1 &
PID=$!
PIDS+=("$PID")
await 20 test -S "$(sock_of $PID)" || fail "budget: no socket"
ucurl "$PID" "/debug/pprof/heap" -o "$T/budget1.heap" || fail "budget: heap"
pprof -top -sample_index=inuse_space "$T/budget1.heap" >"$T/budget1.txt" || fail "$(cat "$T/pprof.err")"
grep -q 'busy+0x' "$T/budget1.txt" || { cat "$T/budget1.txt"; fail "budget 0: the first answer waited for the fetch"; }
named() {
	ucurl "$PID" "/debug/pprof/heap" -o "$T/budget2.heap" &&
		pprof -top -lines -sample_index=inuse_space "$T/budget2.heap" >"$T/budget2.txt" &&
		grep -Eq 'worker .*busy\.c:[0-9]+' "$T/budget2.txt"
}
await 30 named || { cat "$T/budget2.txt"; fail "budget 0: names never filled in"; }
ok "budget 0 ms: first answer module+0xOFFSET, a later one $(grep -Eo 'worker .*busy\.c:[0-9]+' "$T/budget2.txt" | head -1)"
