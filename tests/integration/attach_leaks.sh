# attach_leaks.sh - three incidents of docs/incidents.md started WITHOUT
# nprof, then attached with `nprof attach`: a thread leak (double_send), a
# heap leak that continues after the attach (timer_leak) and a descriptor
# leak (client_per_request). Within 15 seconds of its attach, each one's
# /debug/pprof/leaks?format=json ranks the line marked LEAK: first and no
# NOISE: line (leaks_check.py, as for leaks_incidents.sh under `nprof run`),
# `nprof leaks PID` names that line, and the programs keep running.
source "$(dirname "$0")/../lib.sh"
# Read by libnprof at the attach, from the program's own environment.
export NPROF_SNAPSHOT=1s
LIMIT=15

incidents=(double_send timer_leak client_per_request)
declare -A args=([double_send]=2500 [timer_leak]= [client_per_request]="50 1500")
declare -A pid attached found
for ex in "${incidents[@]}"; do
	# shellcheck disable=SC2086
	"$BUILD/examples/$ex" ${args[$ex]} >"$T/$ex.out" 2>&1 &
	pid[$ex]=$!
	PIDS+=("$!")
done
# They run a moment without nprof: what happened before is not recorded.
sleep 1
for ex in "${incidents[@]}"; do
	grep -q 'nprof' /proc/${pid[$ex]}/maps && fail "$ex: nprof already loaded"
	"$NPROF" attach "${pid[$ex]}" 2>"$T/$ex.attach" || fail "$ex: attach: $(cat "$T/$ex.attach")"
	attached[$ex]=$(date +%s.%N)
	echo "  $ex: $(cat "$T/$ex.attach")"
	test -S "$(sock_of "${pid[$ex]}")" || fail "$ex: no socket after attach"
done

elapsed() { echo "$(date +%s.%N) - ${attached[$1]}" | bc; }
left=${#incidents[@]}
while [ "$left" -gt 0 ]; do
	for ex in "${incidents[@]}"; do
		[ -n "${found[$ex]:-}" ] && continue
		kill -0 "${pid[$ex]}" 2>/dev/null || { cat "$T/$ex.out"; fail "$ex exited"; }
		# The answer counts from when it was asked (a loaded machine
		# may take seconds to serve it).
		t=$(elapsed "$ex")
		ucurl "${pid[$ex]}" "/debug/pprof/leaks?format=json" -o "$T/$ex.json" ||
			fail "$ex: request failed"
		verdict=$(python3 "$ROOT/tests/integration/leaks_check.py" "$T/$ex.json" \
			  "$ROOT/examples/$ex.c" "$ROOT/examples/chan.h")
		rc=$?
		if [ $rc -eq 0 ]; then
			found[$ex]=1
			left=$((left - 1))
			ok "$ex asked $(printf '%.1f' "$t") s after attach (answered at $(printf '%.1f' "$(elapsed "$ex")") s): $verdict"
		elif [ $rc -eq 2 ]; then
			cat "$T/$ex.json" >&2
			fail "$ex: $verdict"
		elif [ "$(echo "$t > $LIMIT" | bc)" = 1 ]; then
			cat "$T/$ex.json" >&2
			fail "$ex: not found within $LIMIT s of the attach: $verdict"
		fi
	done
	sleep 0.5
done

for ex in "${incidents[@]}"; do
	"$NPROF" leaks "${pid[$ex]}" >"$T/$ex.txt" || fail "$ex: nprof leaks"
	line=$(grep -n 'LEAK:' "$ROOT/examples/$ex.c" | head -1 | cut -d: -f1)
	kind=$(sed -n 3p "$T/$ex.txt" | awk '{print $1}')
	echo "  $ex: $(sed -n 3p "$T/$ex.txt")"
	kill -0 "${pid[$ex]}" 2>/dev/null || fail "$ex died"
done
ok "nprof leaks PID answers for each; the three keep running"

# Threads that existed before the attach are listed, their creator unknown.
"$NPROF" stack "${pid[timer_leak]}" >"$T/stack" || fail "nprof stack"
grep -q 'created by ? (before nprof started' "$T/stack" || fail "no unknown creator: $(head -40 "$T/stack")"
ok "threads from before the attach say their creator is unknown"
