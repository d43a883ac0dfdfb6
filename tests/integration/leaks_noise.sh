# leaks_noise.sh - what /debug/pprof/leaks must NOT report, asserted on a
# program made of nothing else (tests/programs/leaks_noise.c): stable
# pools (threads, buffers), one-time steps inside the window (a table
# built once, files opened once, more idle threads) and per-request churn
# (scratch buffer, descriptor, short-lived thread). The noise is checked to
# be really there (the heap and fd profiles show it); the ring and a fresh
# seconds=N window both rank nothing. The same program with one real leak
# added gets exactly that line first. Also the endpoint's parameters.
source "$(dirname "$0")/../lib.sh"
src="$ROOT/tests/programs/leaks_noise.c"
prog="$BUILD/tests/programs/leaks_noise"
line_of() { grep -n "$1" "$src" | head -1 | cut -d: -f1; }

# snapshots PID: how many snapshots the ring holds (text header).
snapshots() {
	ucurl "$1" /debug/pprof/leaks | head -1 | sed -n 's/.*(\([0-9]*\) snapshots.*/\1/p'
}
at_least() { [ "$(snapshots "$1")" -ge "$2" ] 2>/dev/null; }

start_under_nprof "$T/noise.out" -- "$prog"
quiet=$PID
await 10 grep -q ready "$T/noise.out" || fail "never ready: $(cat "$T/noise.out")"
# The window must hold the one-time step with flat time on both sides.
await 20 at_least "$quiet" 10 || fail "ring never reached 10 snapshots: $(ucurl "$quiet" /debug/pprof/leaks)"

# The noise is real: the heap profile holds the table, the fd profile the
# files, the thread profile the pools.
ucurl "$quiet" "/debug/pprof/heap?debug=1" -o "$T/heap.txt" || fail "heap"
grep -q "leaks_noise.c:$(line_of 'NOISE: table built once')\$" "$T/heap.txt" ||
	fail "the one-time table is not in the heap profile"
ucurl "$quiet" "/debug/pprof/fd?debug=1" -o "$T/fd.txt" || fail "fd"
grep -q "leaks_noise.c:$(line_of 'NOISE: files opened once')\$" "$T/fd.txt" ||
	fail "the files opened once are not in the fd profile"
ucurl "$quiet" "/debug/pprof/goroutine?debug=1" -o "$T/g.txt" || fail "goroutine"
grep -q "leaks_noise.c:$(line_of 'NOISE: stable pool')\$" "$T/g.txt" ||
	fail "the idle pool is not in the thread profile"
ok "noise present: table, files and pool in their profiles"

ucurl "$quiet" "/debug/pprof/leaks?format=json" -o "$T/ring.json" || fail "leaks json"
python3 -m json.tool "$T/ring.json" >/dev/null || fail "invalid JSON: $(cat "$T/ring.json")"
python3 - "$T/ring.json" <<'PY' || fail "noise ranked over the ring: $(cat "$T/ring.json")"
import json, sys
d = json.load(open(sys.argv[1]))
assert d["window_seconds"] >= 8, d
assert d["suspects"] == [], d["suspects"]
PY
ok "ring ($(snapshots "$quiet") snapshots): no suspects"
ucurl "$quiet" "/debug/pprof/leaks?format=json&seconds=4" -o "$T/fresh.json" || fail "seconds=4"
python3 - "$T/fresh.json" <<'PY' || fail "noise ranked over seconds=4: $(cat "$T/fresh.json")"
import json, sys
d = json.load(open(sys.argv[1]))
assert 3.5 <= d["window_seconds"] <= 6, d
assert d["suspects"] == [], d["suspects"]
PY
ucurl "$quiet" "/debug/pprof/leaks" -o "$T/ring.txt" || fail "text"
grep -q '^# nothing grew steadily' "$T/ring.txt" || fail "text without suspects: $(cat "$T/ring.txt")"
ok "fresh seconds=4 window: no suspects; text says so"

# Parameters: bad ones are 400 with a one-line reason; the index lists leaks.
sock=$(sock_of "$quiet")
for q in "format=xml" "seconds=0" "seconds=abc" "seconds=100000"; do
	code=$(http_status --unix-socket "$sock" "http://localhost/debug/pprof/leaks?$q")
	[ "$code" = 400 ] || fail "leaks?$q: status $code, want 400"
done
ucurl "$quiet" "/debug/pprof/leaks?format=xml" | grep -q 'format' || fail "400 reason"
ucurl "$quiet" "/debug/pprof/" | grep -q "href='/debug/pprof/leaks" || fail "index lacks leaks"
ucurl "$quiet" "/debug/pprof/leaks?format=json" -D "$T/hdr" -o /dev/null
grep -qi '^content-type: application/json' "$T/hdr" || fail "json content type: $(cat "$T/hdr")"
ok "bad parameters are 400; index lists leaks; JSON is application/json"
kill -9 "$quiet"

# The control: the same noise plus one real leak, found first, alone.
start_under_nprof "$T/leak.out" -- "$prog" leak
t0=$SECONDS
until ucurl "$PID" "/debug/pprof/leaks?format=json" -o "$T/leak.json" &&
	verdict=$(python3 "$ROOT/tests/integration/leaks_check.py" "$T/leak.json" "$src"); do
	[ $? -eq 2 ] && fail "$verdict"
	[ $((SECONDS - t0)) -gt 15 ] && fail "leak not found in 15 s: $verdict"
	sleep 0.5
done
n=$(python3 -c 'import json,sys; print(len(json.load(open(sys.argv[1]))["suspects"]))' "$T/leak.json")
[ "$n" = 1 ] || fail "want the leak alone, got $n suspects: $(cat "$T/leak.json")"
ok "with a real leak: $verdict (the only suspect)"
