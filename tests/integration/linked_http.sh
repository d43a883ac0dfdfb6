# linked_http.sh - nprof's HTTP server, gate and symbolizer in a program
# linked with -lnprof: fuzzed over both listeners, then every profile a
# linked program serves, read by go tool pprof; the program exits 0 after
# nprof_stop. Under `make SANITIZER=address|undefined|thread check` the
# program and the library are built with that sanitizer (README,
# "Sanitizers"), so any report it prints (or its abort) fails the test.
source "$(dirname "$0")/../lib.sh"

PROG="$BUILD/tests/programs/linked_serve"
port=$(free_port)
LINKED_CONFIG="http=127.0.0.1:$port" "$PROG" 45 >"$T/out" 2>"$T/err" &
PID=$!
PIDS+=("$PID")
await 60 grep -q '^ready' "$T/out" || fail "not ready: $(cat "$T/err")"
await 20 test -S "$(sock_of $PID)" || fail "no socket: $(cat "$T/err")"

python3 "$ROOT/tests/http/fuzz_http.py" --tcp "127.0.0.1:$port" --unix "$(sock_of $PID)" \
	--pid "$PID" --seconds "${FUZZ_SECONDS:-15}" --seed "${FUZZ_SEED:-2}" ||
	fail "the fuzzer found a response outside the contract: $(tail -20 "$T/err")"
kill -0 "$PID" || fail "the program died: $(tail -30 "$T/err")"

# What a linked program serves (the heap, fd and contention profiles need
# the libc overrides a sanitizer owns): CPU, threads, metrics, symbols.
pprof -raw "http://127.0.0.1:$port/debug/pprof/profile?seconds=1" >"$T/cpu.raw" ||
	fail "CPU profile: $(cat "$T/pprof.err")"
pprof -raw "http://127.0.0.1:$port/debug/pprof/goroutine" >"$T/threads.raw" ||
	fail "thread profile: $(cat "$T/pprof.err")"
# (Their stacks are not checked: under address and thread the runtime's
# read() interceptor stops the unwinder, README "Sanitizers".)
ucurl "$PID" "/debug/pprof/goroutine?debug=1" | grep -Eq '^goroutine profile: total ([3-9]|[1-9][0-9])' ||
	fail "thread dump does not count the program's three threads"
ucurl "$PID" /metrics | grep -q '^nprof_threads [1-9]' || fail "metrics"
# main's run-time address: the (PIE) binary's load address plus its value.
base=$(awk -v p="$(readlink -f "$PROG")" '$6 == p && $3 == "00000000" {split($1, a, "-"); print a[1]; exit}' \
	"/proc/$PID/maps")
val=$(nm "$PROG" | awk '$3 == "main" {print $1}')
[ -n "$base" ] && [ -n "$val" ] || fail "no address of main in $PROG"
sym=$(printf '0x%x' $((0x$base + 0x$val)))
ucurl "$PID" /debug/pprof/symbol --data "$sym" | grep -q " main$" ||
	fail "symbol lookup of main at $sym: $(ucurl "$PID" /debug/pprof/symbol --data "$sym")"

kill -0 "$PID" || fail "the program died: $(tail -30 "$T/err")"
wait "$PID"
rc=$?
if grep -E -m5 'runtime error|Sanitizer|SUMMARY' "$T/err"; then
	fail "sanitizer report (exit $rc): $(grep -E -A30 'runtime error|Sanitizer' "$T/err" | head -60)"
fi
[ "$rc" = 0 ] || fail "exit status $rc: $(tail -20 "$T/err")"
ok "linked program: fuzzed HTTP for ${FUZZ_SECONDS:-15} s, CPU, threads, metrics and symbols served, exit 0"
