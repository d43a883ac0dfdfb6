# cpu_handler_malloc.sh - a malloc-counting interposer around nprof's
# SIGPROF handler: while threads fork and allocate under a CPU profile,
# the handler makes no allocation and no free, on any thread's first
# sample or later (the loader allocates dynamic thread-local storage on
# first touch, so an unwinder using it would show up here).
source "$(dirname "$0")/../lib.sh"

SHIM="$BUILD/tests/programs/shim_malloc_count.so"
LD_PRELOAD="$LIB:$SHIM" "$BUILD/tests/programs/fork_loop" 3 "$T/stop" >"$T/out" 2>"$T/err" &
PID=$!
PIDS+=("$PID")
await 20 test -S "$(sock_of $PID)" || fail "no socket: $(cat "$T/err")"
ucurl "$PID" "/debug/pprof/profile?seconds=2" --max-time 20 -o "$T/cpu.pb.gz" || fail "profile"
touch "$T/stop"
pprof -raw "$T/cpu.pb.gz" >/dev/null || fail "invalid profile: $(cat "$T/pprof.err")"
wait "$PID" || fail "exit status $?: $(cat "$T/err")"
line=$(grep '^handler calls' "$T/err") || fail "no report from the shim: $(cat "$T/err")"
set -- $line
[ "$3" -ge 3 ] || fail "the handler hardly ran: $line"
[ "$5" = 0 ] || fail "the SIGPROF handler allocated or freed: $line"
ok "$line"
