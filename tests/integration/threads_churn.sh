# threads_churn.sh - dumps while 10,000 short-lived threads come and go:
# every dump answers (complete, or saying what is missing), nothing
# crashes or hangs, and the creations are all in threadcreate.
source "$(dirname "$0")/../lib.sh"

start_under_nprof "$T/out" -- "$BUILD/tests/programs/threads_churn" 10000
i=0
until grep -q '^done' "$T/out"; do
	i=$((i + 1))
	for q in '?debug=2' '?debug=1' ''; do
		code=$(http_status --unix-socket "$(sock_of "$PID")" "http://localhost/debug/pprof/goroutine$q")
		[ "$code" = 200 ] || fail "dump $i$q answered $code"
	done
	kill -0 "$PID" 2>/dev/null || fail "the program died: $(cat "$T/out")"
	[ $i -lt 2000 ] || fail "churn never finished"
done
ok "$i rounds of dumps during the churn, all answered"
ucurl "$PID" "/debug/pprof/threadcreate?debug=1" -o "$T/tc" || fail "threadcreate"
total=$(head -1 "$T/tc" | awk '{print $4}')
[ "$total" -ge 10000 ] || fail "threadcreate total $total < 10000"
grep -q 'threads_churn.c' "$T/tc" || fail "creating line missing"
ok "threadcreate counts $total creations"
