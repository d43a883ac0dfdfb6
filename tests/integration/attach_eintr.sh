# attach_eintr.sh - `nprof attach` and `nprof detach` change nothing a
# program can see: eintr_victim (started without nprof) has threads
# blocked in read, poll, epoll_wait, nanosleep and accept, each of which
# dies on EINTR, plus pause() in main and a spinning thread. Each thread in
# turn is the one the injection runs on (NPROF_ATTACH_THREAD); after 7
# attach/detach rounds the victim is alive, no call saw EINTR, no signal
# reached it, and the descriptors nprof keeps while dormant (its symbol
# files, its wake-up pipe) do not grow with each round.
source "$(dirname "$0")/../lib.sh"

"$BUILD/tests/programs/eintr_victim" >"$T/out" 2>&1 &
PID=$!
PIDS+=("$PID")
await 10 grep -q '^ready' "$T/out" || fail "victim not ready: $(cat "$T/out")"
fds_before=$(ls "/proc/$PID/fd" | wc -l)

rounds=0
for tid in $(ls "/proc/$PID/task"); do
	call=$(cut -d' ' -f1 "/proc/$PID/task/$tid/syscall")
	NPROF_ATTACH_THREAD=$tid "$NPROF" attach "$PID" 2>"$T/attach.err" ||
		fail "attach on thread $tid ($call): $(cat "$T/attach.err") / $(cat "$T/out")"
	grep -Eq '^nprof: attached to process [0-9]+ in [0-9]+ ms \(one thread stopped [0-9.]+ ms\)' \
		"$T/attach.err" || fail "attach message: $(cat "$T/attach.err")"
	sed 's/^/  /' "$T/attach.err"
	ucurl "$PID" "/debug/pprof/goroutine?debug=2" -o "$T/dump" || fail "no dump after attach"
	grep -q 't_epoll' "$T/dump" || fail "dump lacks the epoll thread: $(cat "$T/dump")"
	NPROF_ATTACH_THREAD=$tid "$NPROF" detach "$PID" 2>"$T/detach.err" ||
		fail "detach on thread $tid ($call): $(cat "$T/detach.err")"
	[ -e "$(sock_of "$PID")" ] && fail "socket left after detach"
	[ "$rounds" -eq 0 ] && fds_dormant=$(ls "/proc/$PID/fd" | wc -l)
	kill -0 "$PID" 2>/dev/null || fail "victim died (thread $tid, $call): $(cat "$T/out")"
	rounds=$((rounds + 1))
done
[ "$rounds" -ge 7 ] || fail "only $rounds threads"
# Let any call that failed print before looking.
sleep 0.5
grep -q EINTR "$T/out" && fail "a blocked call saw EINTR: $(cat "$T/out")"
kill -0 "$PID" 2>/dev/null || fail "victim died: $(cat "$T/out")"
ok "$rounds attach/detach rounds, one on each thread (pause, read, poll, epoll_wait, nanosleep, accept, running): no EINTR, victim alive"

fds_after=$(ls "/proc/$PID/fd" | wc -l)
[ "$fds_after" -eq "$fds_dormant" ] ||
	{ ls -l "/proc/$PID/fd"; fail "descriptors grew over the rounds: $fds_dormant -> $fds_after"; }
ok "descriptors: $fds_before before, $fds_dormant after the first detach, $fds_after after $rounds rounds"
