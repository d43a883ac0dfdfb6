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
