# leaks_incidents.sh - the five incidents of docs/incidents.md, run side by side
# under nprof at its default settings. For each, within 15 seconds of
# its start, /debug/pprof/leaks?format=json (valid JSON, docs/reference.md §4's shape)
# ranks the line marked LEAK: first (its site, or within the first frames
# of its stack or created_by), and never ranks a line marked NOISE: (the
# stable pools, tables built once and per-request scratch buffers the
# examples carry). leaks_check.py does the judging; markers, not numbers.
source "$(dirname "$0")/../lib.sh"
# The system interpreter: a version manager's shim can take seconds to
# start on a loaded machine, which the time limits would count.
PY=$(command -v /usr/bin/python3 || command -v python3)
LIMIT=15

incidents=(double_send timer_leak client_per_request notifier_leak stage_no_consumer)
# Arguments that keep the five within a few thousand threads in all, yet
# leaking for longer than the test looks (the thread examples take the
# number of threads to leak; client_per_request the rate and the count).
declare -A args=([double_send]=2500 [timer_leak]= [client_per_request]="50 1500"
		 [notifier_leak]=3000 [stage_no_consumer]=2500)
declare -A pid started found
for ex in "${incidents[@]}"; do
	# shellcheck disable=SC2086
	start_under_nprof "$T/$ex.out" -- "$BUILD/examples/$ex" ${args[$ex]}
	pid[$ex]=$PID
	started[$ex]=$(date +%s.%N)
done

elapsed() { echo "$(date +%s.%N) - ${started[$1]}" | bc; }

left=${#incidents[@]}
while [ "$left" -gt 0 ]; do
	for ex in "${incidents[@]}"; do
		[ -n "${found[$ex]:-}" ] && continue
		kill -0 "${pid[$ex]}" 2>/dev/null || { cat "$T/$ex.out"; fail "$ex exited"; }
		ucurl "${pid[$ex]}" "/debug/pprof/leaks?format=json" -o "$T/$ex.json" ||
			fail "$ex: request failed"
		"$PY" -m json.tool "$T/$ex.json" >/dev/null || fail "$ex: invalid JSON: $(cat "$T/$ex.json")"
		verdict=$("$PY" "$ROOT/tests/integration/leaks_check.py" "$T/$ex.json" \
			  "$ROOT/examples/$ex.c" "$ROOT/examples/chan.h")
		rc=$?
		t=$(elapsed "$ex")
		if [ $rc -eq 0 ]; then
			# The text table of the same moment (the thread leaks are
			# capped: asked much later they have stopped growing).
			ucurl "${pid[$ex]}" "/debug/pprof/leaks" -o "$T/$ex.txt" || fail "$ex: text"
			found[$ex]=1
			left=$((left - 1))
			ok "$ex after $(printf '%.1f' "$t") s: $verdict"
		elif [ $rc -eq 2 ]; then
			cat "$T/$ex.json" >&2
			fail "$ex: $verdict"
		elif [ "$(echo "$t > $LIMIT" | bc)" = 1 ]; then
			cat "$T/$ex.json" >&2
			fail "$ex: not found within $LIMIT s: $verdict"
		fi
	done
	sleep 0.5
done

# Incident 3: the threads, their sockets and their buffers are one suspect
# whose site is the handler's line (the call that creates the client), not
# the keepalive loop the threads wait in.
"$PY" - "$T/client_per_request.json" "$ROOT/examples/client_per_request.c" <<'PY' ||
import json, os, sys
top = json.load(open(sys.argv[1]))["suspects"][0]
want = [i for i, l in enumerate(open(sys.argv[2]), 1) if "LEAK:" in l][0]
kinds = sorted({top["kind"]} | {r["kind"] for r in top.get("related", [])})
# The heap (4 KiB a client) joins once a few of its sampled blocks exist;
# threads and sockets are there from the first answer.
ok = top["site"]["line"] == want and {"fds", "threads"} <= set(kinds)
print("site %s:%s, kinds %s" % (os.path.basename(top["site"]["file"]), top["site"]["line"], kinds))
sys.exit(0 if ok else 1)
PY
	{ cat "$T/client_per_request.json"; fail "incident 3: top suspect is not the handler line with threads and fds together"; }
ok "incident 3: one suspect at the handler's line, $("$PY" -c 'import json,sys; t=json.load(open(sys.argv[1]))["suspects"][0]; print("+".join([t["kind"]]+[r["kind"] for r in t.get("related",[])]))' "$T/client_per_request.json") together"

# The text table taken with each answer names the same line.
for ex in "${incidents[@]}"; do
	line=$(grep -n 'LEAK:' "$ROOT/examples/$ex.c" | cut -d: -f1)
	sed -n 3p "$T/$ex.txt" | grep -Eq '^(threads|heap|fds) +\+[0-9.]+ ?[KMG]?i?B?/s ' ||
		{ cat "$T/$ex.txt"; fail "$ex: text table row"; }
	sed -n 3p "$T/$ex.txt" | grep -q "$ex\.c:$line " || { cat "$T/$ex.txt"; fail "$ex: text table's first row"; }
	"$PY" "$ROOT/tests/integration/leaks_check.py" "$T/$ex.json" "$ROOT/examples/$ex.c" \
		"$ROOT/examples/chan.h" >/dev/null || fail "$ex: lost the leak"
	kill -9 "${pid[$ex]}"
done
ok "text tables: $(for ex in "${incidents[@]}"; do sed -n 3p "$T/$ex.txt" | awk '{print $1}'; done | tr '\n' ' ')"
