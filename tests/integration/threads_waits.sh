# threads_waits.sh - the exact wait reason of each interposed primitive,
# with an exact duration that grows; and the overrides keep errno and
# return values as glibc gives them.
source "$(dirname "$0")/../lib.sh"

start_under_nprof "$T/out" -- "$BUILD/tests/programs/threads_waits"
await 10 grep -q '^ready' "$T/out" || fail "not ready: $(cat "$T/out")"
grep -q '^errno ok' "$T/out" || fail "$(cat "$T/out")"
ok "errno and results preserved"

# Each waiter function must be on a thread whose reason is its primitive.
check_all() {
	ucurl "$PID" "/debug/pprof/goroutine?debug=2" -o "$T/g2" || return 1
	for pair in w_cond_wait:pthread_cond_wait w_cond_timedwait:pthread_cond_timedwait \
		w_mutex_lock:pthread_mutex_lock w_mutex_timedlock:pthread_mutex_timedlock \
		w_rwlock_rdlock:pthread_rwlock_rdlock w_rwlock_wrlock:pthread_rwlock_wrlock \
		w_sem_wait:sem_wait w_sem_timedwait:sem_timedwait w_join:pthread_join \
		w_barrier:pthread_barrier_wait; do
		fn=${pair%%:*} why=${pair#*:}
		awk -v RS= -v fn="$fn" '$0 ~ "\n" fn "\\(" {print; exit}' "$T/g2" >"$T/b"
		head -1 "$T/b" | grep -Eq "^thread [0-9]+ \"[^\"]*\" \[$why, [0-9]+ seconds?\]:\$" ||
			{ echo "$fn: $(head -1 "$T/b")"; return 1; }
		# The stack starts at the caller of the primitive: the waiter.
		sed -n 2p "$T/b" | grep -q "^$fn(" || { echo "$fn: leaf $(sed -n 2p "$T/b")"; return 1; }
	done
}
check_all || fail "wait reasons: $(check_all 2>&1 | tail -1)"
ok "every primitive is named exactly, the stack starting at its caller"

# Durations are exact and grow: wait until they read at least 2 seconds.
two() { check_all && grep -Eq '\[pthread_cond_wait, ([2-9]|[1-9][0-9]+) seconds\]' "$T/g2"; }
await 20 two || fail "durations do not grow: $(grep pthread_cond_wait "$T/g2" | head -2)"
ok "durations grow"
