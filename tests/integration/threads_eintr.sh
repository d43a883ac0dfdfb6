# threads_eintr.sh - thread dumps do not change the program: threads
# blocked in read (pipe), poll, epoll_wait, nanosleep and accept, each of
# which dies on EINTR, survive 200 dumps in every format; each dump shows
# them blocked where they are, and the spinning thread as running.
source "$(dirname "$0")/../lib.sh"

start_under_nprof "$T/out" -- "$BUILD/tests/programs/eintr_victim"
await 10 grep -q '^ready' "$T/out" || fail "victim not ready: $(cat "$T/out")"

for i in $(seq 1 200); do
	case $((i % 4)) in
	0) q='?debug=2' ;;
	1) q='?debug=1' ;;
	2) q='' ;;
	3) q='?debug=2' ;;
	esac
	ucurl "$PID" "/debug/pprof/goroutine$q" -o "$T/dump.$((i % 4))" ||
		fail "dump $i failed: $(cat "$T/out")"
	kill -0 "$PID" 2>/dev/null || fail "victim died at dump $i: $(cat "$T/out")"
done
grep -q EINTR "$T/out" && fail "a blocked call saw EINTR: $(cat "$T/out")"
[ "$(ls "/proc/$PID/task" | wc -l)" -ge 7 ] || fail "threads missing"
ok "200 dumps: no EINTR, every thread alive"

# The last debug=2 dump shows each blocked call, in its own function.
d2="$T/dump.3"
for pair in read:t_read poll:t_poll epoll_wait:t_epoll nanosleep:t_sleep accept:t_accept; do
	call=${pair%%:*} fn=${pair#*:}
	awk -v RS= -v fn="$fn" '$0 ~ "\n" fn "\\(" {print; exit}' "$d2" >"$T/block.$fn"
	head -1 "$T/block.$fn" | grep -Eq "^thread [0-9]+ \"[^\"]*\" \[$call, ≥[0-9]+ (second|minute)s? \(seen since\)\]:\$" ||
		{ cat "$d2"; fail "$fn: header $(head -1 "$T/block.$fn")"; }
	grep -Pq "^\t\S*eintr_victim\.c:[0-9]+" "$T/block.$fn" || fail "$fn: no source line"
	grep -q '^created by main in thread' "$T/block.$fn" || fail "$fn: no creator"
done
ok "each blocked call is named, with a lower-bound duration"
# The spinner is running: listed, with the one pseudo frame [running] and
# a note saying why there is no stack (so it counts in every profile).
grep -A3 -E '^thread [0-9]+ "[^"]*" \[running\]:$' "$d2" | grep -q '^\[running\]$' &&
	grep -A3 -E '^thread [0-9]+ "[^"]*" \[running\]:$' "$d2" | grep -q 'stack not captured: the thread was running' ||
	grep -q 't_spin' "$d2" || fail "spinning thread missing: $(cat "$d2")"
ok "the running thread is listed"

# The durations grow: a later dump shows a larger lower bound.
pprof -raw "$T/dump.2" >/dev/null || fail "proto unreadable: $(cat "$T/pprof.err")"
# Every listed thread counts in the proto, the running one too.
ucurl "$PID" "/debug/pprof/goroutine" -o "$T/g.pb.gz" || fail "goroutine proto"
pprof -top "$T/g.pb.gz" >"$T/g.top" || fail "$(cat "$T/pprof.err")"
listed=$(ucurl "$PID" "/debug/pprof/goroutine?debug=2" | grep -c '^thread ')
grep -Eq "accounting for $listed, 100% of $listed total" "$T/g.top" ||
	{ cat "$T/g.top"; fail "proto total is not the $listed threads listed"; }
grep -q '\[running\]' "$T/g.top" || { cat "$T/g.top"; fail "no [running] frame in the proto"; }
ok "proto counts all $listed threads, the running one as [running]"
