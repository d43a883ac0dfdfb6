# threads_many.sh - 10,000 blocked threads (64 KiB stacks): every one is
# counted in every format, in bounded time.
source "$(dirname "$0")/../lib.sh"

N=10000
start_under_nprof "$T/out" -- "$BUILD/tests/programs/threads_many" $N
await 120 grep -q "^ready $N" "$T/out" || fail "not ready: $(tail -3 "$T/out")"

start=$(date +%s.%N)
ucurl "$PID" "/debug/pprof/goroutine?debug=1" -o "$T/g1" || fail "debug=1"
secs=$(echo "$(date +%s.%N) - $start" | bc)
echo "debug=1 of $N threads: ${secs}s ($(grep 'collected in' "$T/g1"))"
# main + N parked workers.
head -1 "$T/g1" | grep -qx "goroutine profile: total $((N + 1))" || fail "header: $(head -1 "$T/g1")"
sed -n 2p "$T/g1" | grep -Eq "^$N @ " || fail "group: $(sed -n 2p "$T/g1")"
awk 'NR>1 && /^$/ {exit} NR>1 {print}' "$T/g1" | grep -q 'park_here' || fail "park_here not in the group"
grep -q 'without a stack\|possibly torn\|exited during' "$T/g1" && fail "partial dump: $(tail -5 "$T/g1")"
ok "debug=1 counts all $N threads in one group"

ucurl "$PID" "/debug/pprof/goroutine?debug=2" -o "$T/g2" || fail "debug=2"
n=$(grep -c '^thread [0-9]* "[^"]*" \[pthread_cond_wait, ' "$T/g2")
[ "$n" -eq "$N" ] || fail "debug=2 lists $n threads waiting in pthread_cond_wait, want $N"
ok "debug=2 lists $n threads"

ucurl "$PID" "/debug/pprof/goroutine" -o "$T/g.pb.gz" || fail "proto"
pprof -top "$T/g.pb.gz" >"$T/top" || fail "pprof: $(cat "$T/pprof.err")"
grep -Eq "^ +$N +[0-9.]+% .* park_here\$" "$T/top" || { cat "$T/top"; fail "pprof does not count $N in park_here"; }
ok "go tool pprof counts $N"
