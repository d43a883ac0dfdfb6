# threads_swap.sh - a dump lists the threads there are now, not those of
# the previous dump: threads end and others start between two dumps
# while the number of threads stays the same (the case where reusing the
# previous listing of /proc/self/task on an unchanged count would go
# wrong), and each dump shows the new thread, not the gone one.
source "$(dirname "$0")/../lib.sh"

# No background snapshot in between: each dump follows the previous one's
# listing directly.
export NPROF_SNAPSHOT=1h
start_under_nprof "$T/out" -- "$BUILD/tests/programs/threads_swap" 8
await 10 grep -q '^ready' "$T/out" || fail "not ready: $(cat "$T/out")"
dump() { ucurl "$PID" "/debug/pprof/goroutine?debug=2" -o "$T/g2" || fail "dump $1"; }
dump first
[ "$(grep -c '^thread ' "$T/g2")" = 9 ] || fail "first dump: $(grep '^thread ' "$T/g2")"
for j in 0 1 2 3 4; do
	kill -USR1 "$PID"
	await 10 grep -q "^swapped $j\$" "$T/out" || fail "swap $j: $(cat "$T/out")"
	dump "after swap $j"
	grep -q "^thread [0-9]* \"new-$j\" \[pthread_cond_wait" "$T/g2" ||
		fail "swap $j: new-$j missing: $(grep '^thread ' "$T/g2")"
	! grep -q "\"old-$j\"" "$T/g2" || fail "swap $j: old-$j still listed"
	n=$(grep -c '^thread ' "$T/g2")
	[ "$n" = 9 ] || fail "swap $j: $n threads listed: $(grep '^thread ' "$T/g2")"
	# A second dump with nothing changed lists the same threads.
	cp "$T/g2" "$T/g2.prev"
	dump "again after swap $j"
	diff <(grep '^thread ' "$T/g2.prev" | sed 's/, [0-9]* seconds\?\]/]/') \
		<(grep '^thread ' "$T/g2" | sed 's/, [0-9]* seconds\?\]/]/') >/dev/null ||
		fail "swap $j: a second dump lists other threads"
done
ok "5 swaps at a constant thread count: each dump lists the new thread, not the gone one"
