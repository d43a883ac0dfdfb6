# cpu_eintr.sh - threads blocked in read, poll, epoll_wait, nanosleep and
# accept, each treating EINTR as fatal, survive a 3-second CPU profile.
source "$(dirname "$0")/../lib.sh"

start_under_nprof "$T/out" -- "$BUILD/tests/programs/eintr_victim"
await 10 grep -q '^ready' "$T/out" || fail "victim not ready: $(cat "$T/out")"
ucurl "$PID" "/debug/pprof/profile?seconds=3" -o "$T/cpu.pb.gz" || fail "profile"
pprof -top "$T/cpu.pb.gz" >"$T/top.txt" || fail "pprof"
grep -q 't_spin' "$T/top.txt" || fail "the spinning thread was not sampled"
kill -0 "$PID" 2>/dev/null || fail "victim died: $(cat "$T/out")"
grep -q EINTR "$T/out" && fail "$(cat "$T/out")"
[ "$(ls /proc/$PID/task | wc -l)" -ge 7 ] || fail "threads missing"
ok "no EINTR after a 3 s profile; all threads alive"

# nprof's own threads (named "nprof", or "MHD-…" by libmicrohttpd) block
# every signal they can.
ours=0
for t in /proc/$PID/task/*; do
	grep -Eq '^(nprof|MHD-)' "$t/comm" || continue
	ours=$((ours + 1))
	blk=$(awk '/^SigBlk/ {print $2}' "$t/status")
	# Everything but SIGKILL, SIGSTOP and glibc's two internal signals.
	[ "$blk" = fffffffe7ffbfeff ] || fail "nprof thread ${t##*/} blocks only $blk"
done
[ $ours -ge 1 ] || fail "no nprof thread found"
[ "$(grep -L -E '^(nprof|MHD-)' /proc/$PID/task/*/comm | wc -l)" = 7 ] || fail "program thread count changed"
ok "$ours nprof threads, each blocking all signals"
