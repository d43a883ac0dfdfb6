# threads_parallel.sh - a dump of 1,200 threads with /proc read on
# several threads (the default from 1,024 threads on a machine with more
# than one CPU) lists the same threads, waits and stacks as one read on a
# single thread (NPROF_DUMP_PARALLEL=0): two copies of a program whose
# threads wait in five ways (recorded by nprof's overrides or seen only by
# the kernel) at three depths, fifteen distinct stacks. A dump again right
# after, which takes the stacks of threads still in the same interposed
# wait from the previous dump instead of unwinding them, is the same too.
source "$(dirname "$0")/../lib.sh"

N=1200
NPROF_DUMP_PARALLEL=0 start_under_nprof "$T/serial.out" -- "$BUILD/tests/programs/threads_mixed" $N
SERIAL=$PID
start_under_nprof "$T/parallel.out" -- "$BUILD/tests/programs/threads_mixed" $N
PARALLEL=$PID
await 120 grep -q "^ready $N" "$T/serial.out" || fail "serial not ready: $(tail -3 "$T/serial.out")"
await 120 grep -q "^ready $N" "$T/parallel.out" || fail "parallel not ready: $(tail -3 "$T/parallel.out")"

# The blocks of a debug=2 dump without what differs between two processes
# (thread ids, durations, the collection time), sorted, with counts.
shape() {
	python3 - "$1" <<'PY'
import re, sys, collections
text = open(sys.argv[1]).read()
blocks = [b for b in text.split("\n\n") if b.startswith("thread ")]
c = collections.Counter()
for b in blocks:
    b = re.sub(r"^thread \d+", "thread N", b)
    b = re.sub(r"\[([^,\]]+)(, [^\]]*)?\]", r"[\1]", b, count=1)
    b = re.sub(r"in thread \d+", "in thread N", b)
    c[b] += 1
for b, n in sorted(c.items()):
    print(n, b.replace("\n", " | "))
PY
}

# Threads in kernel waits announce themselves just before their call:
# both dumps are compared once every worker is in its wait.
settled() {
	ucurl "$1" "/debug/pprof/goroutine?debug=2" -o "$T/$2.txt" || return 1
	shape "$T/$2.txt" >"$T/$2.shape"
	! grep -q '\[running\]\|not captured\|possibly torn\|exited during' "$T/$2.txt" &&
		[ "$(grep -c '^thread ' "$T/$2.txt")" -eq $((N + 1)) ]
}
await 60 settled "$SERIAL" serial || fail "serial dump not settled: $(tail -3 "$T/serial.txt")"
await 60 settled "$PARALLEL" parallel || fail "parallel dump not settled: $(tail -3 "$T/parallel.txt")"

grep -q '/proc read by' "$T/serial.txt" && fail "NPROF_DUMP_PARALLEL=0 still read /proc on several threads"
if [ "$(nproc)" -gt 1 ]; then
	grep -q '/proc read by [2-9] threads' "$T/parallel.txt" ||
		fail "no parallel read on $(nproc) CPUs: $(tail -1 "$T/parallel.txt")"
fi
ok "$(tail -1 "$T/parallel.txt")"

# Fifteen worker stacks (5 waits x 3 depths) and main's.
distinct=$(wc -l <"$T/parallel.shape")
[ "$distinct" -eq 16 ] || { cat "$T/parallel.shape"; fail "want 16 distinct blocks, got $distinct"; }
for w in wait_cond wait_mutex wait_read wait_poll wait_sleep; do
	[ "$(grep -c "^80 .*$w(" "$T/parallel.shape")" -eq 3 ] ||
		{ cat "$T/parallel.shape"; fail "$w: not 3 stacks of 80 threads"; }
done
grep -q '\[pthread_cond_wait\].*wait_cond' "$T/parallel.shape" || fail "wait_cond: reason"
grep -q '\[pthread_mutex_lock\].*wait_mutex' "$T/parallel.shape" || fail "wait_mutex: reason"
grep -q '\[read\].*wait_read' "$T/parallel.shape" || fail "wait_read: reason"
diff "$T/serial.shape" "$T/parallel.shape" >"$T/diff" || { cat "$T/diff"; fail "parallel and serial dumps differ"; }
ok "parallel dump = serial dump: $distinct distinct blocks, $((N + 1)) threads"

settled "$PARALLEL" again || fail "second dump not settled: $(tail -3 "$T/again.txt")"
diff "$T/parallel.shape" "$T/again.shape" >"$T/diff2" || { cat "$T/diff2"; fail "a second dump differs"; }
ok "a second dump (stacks of unchanged waits reused) is the same"
