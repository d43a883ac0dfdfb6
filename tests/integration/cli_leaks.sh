# cli_leaks.sh - `nprof leaks` and `nprof watch`: first against known
# inputs (a stand-in server with fixed answers, so the requests and the
# rendering are checked exactly), then against a real leaking service
# under nprof, where both must name the leaking line.
source "$(dirname "$0")/../lib.sh"
# The system interpreter: a version manager's shim can take seconds to
# start on a loaded machine, which the time limits would count.
PY=$(command -v /usr/bin/python3 || command -v python3)

# ---- known inputs ---------------------------------------------------
fport=$(free_port)
cat >"$T/fake.py" <<'PY'
import http.server, sys
port, log = int(sys.argv[1]), sys.argv[2]
METRICS = """# HELP nprof_threads x
# TYPE nprof_threads gauge
nprof_threads %d
# TYPE nprof_heap_inuse_bytes gauge
nprof_heap_inuse_bytes %d
# TYPE nprof_heap_inuse_objects gauge
nprof_heap_inuse_objects 10
# TYPE nprof_heap_alloc_bytes_total counter
nprof_heap_alloc_bytes_total 5e+06
# TYPE nprof_fds gauge
nprof_fds{kind="file"} 3
nprof_fds{kind="socket-tcp"} %d
nprof_fds{kind="pipe"} 0
# TYPE process_resident_memory_bytes gauge
process_resident_memory_bytes 10485760
# TYPE process_cpu_seconds_total counter
process_cpu_seconds_total 1.5
"""
LEAKS = ('{"window_seconds": 10.0,\n "suspects": [\n'
         '   {"kind": "threads", "unit": "threads", "start": 12, "end": 3020, "growth_per_second": 300.8,\n'
         '    "confidence": 0.97, "wait": "pthread_cond_wait",\n'
         '    "site":  {"function": "score_job", "file": "/src/dispatch.c", "line": 50},\n'
         '    "stack": [{"function": "hchan_send", "file": "chan.h", "line": 33},\n'
         '              {"function": "score_job", "file": "dispatch.c", "line": 50}],\n'
         '    "created_by": [{"function": "main", "file": "dispatch.c", "line": 71}]},\n'
         '   {"kind": "heap", "unit": "bytes", "start": 1048576, "end": 3145728, "growth_per_second": 209715.2,\n'
         '    "confidence": 0.9, "wait": "", "site": {"function": "after", "file": "t\\u00e9\\"q.c", "line": 7},\n'
         '    "stack": [], "created_by": []}]}\n')
n = [0]
class H(http.server.BaseHTTPRequestHandler):
    def log_message(self, *a): pass
    def do_GET(self):
        with open(log, "a") as f: f.write(self.path + "\n")
        if self.path == "/metrics":
            n[0] += 1
            body = METRICS % (4 + n[0], 1000000 * n[0], 7 * n[0])
        elif self.path.startswith("/debug/pprof/leaks?format=json"):
            body = LEAKS
        elif self.path.startswith("/debug/pprof/leaks"):
            body = "FAKE LEAKS TABLE\n"
        else:
            self.send_response(404); self.end_headers(); self.wfile.write(b"nope\n"); return
        b = body.encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(b)))
        self.end_headers()
        self.wfile.write(b)
http.server.HTTPServer(("127.0.0.1", port), H).serve_forever()
PY
"$PY" "$T/fake.py" "$fport" "$T/req.log" &
PIDS+=("$!")
# (Not /metrics: each answer there counts a frame.)
await 10 curl -sf "http://127.0.0.1:$fport/debug/pprof/leaks" -o /dev/null || fail "stand-in server"
: >"$T/req.log"
furl="http://127.0.0.1:$fport/debug/pprof"

"$NPROF" leaks "$furl" >"$T/l" || fail "leaks URL"
[ "$(cat "$T/l")" = "FAKE LEAKS TABLE" ] || fail "leaks output: $(cat "$T/l")"
"$NPROF" leaks "$furl" --json --seconds 3 >"$T/lj" || fail "leaks --json"
"$PY" -c 'import json,sys; json.load(open(sys.argv[1]))' "$T/lj" || fail "leaks --json not JSON"
"$NPROF" leaks "$furl" --seconds=2 >/dev/null || fail "leaks --seconds="
grep -qx '/debug/pprof/leaks' "$T/req.log" &&
	grep -qx '/debug/pprof/leaks?format=json&seconds=3' "$T/req.log" &&
	grep -qx '/debug/pprof/leaks?seconds=2' "$T/req.log" || fail "requests: $(cat "$T/req.log")"
ok "leaks: prints the endpoint's body, asks for format=json and seconds=N"

"$NPROF" watch "$furl" --count 2 --interval 0.2 >"$T/w" || fail "watch"
cat "$T/w"
[ "$(grep -c '^nprof watch ' "$T/w")" = 2 ] || fail "not two frames"
grep -q $'\033' "$T/w" && fail "ANSI escapes when stdout is not a terminal"
# Frame 2: values and their change since frame 1.
awk '/frame 2\/2/ { f = 1 } f' "$T/w" >"$T/w2"
grep -Eq '^  threads +6 +\+1$' "$T/w2" || fail "threads row"
grep -Eq '^  heap in use +1\.9 MiB +\+976\.6 KiB$' "$T/w2" || fail "heap row"
grep -Eq '^  descriptors +17 +\+7$' "$T/w2" || fail "descriptors row"
grep -Eq '^    socket-tcp +14 +\+7$' "$T/w2" || fail "socket-tcp row"
grep -q '^    pipe' "$T/w2" && fail "a kind at zero is shown"
grep -q 'leak suspects (over 10 s): 2' "$T/w2" || fail "suspects header"
grep -Eq '^  threads +\+300\.8/s +12 -> 3020 +0\.97 +pthread_cond_wait +dispatch\.c:50 score_job$' "$T/w2" ||
	fail "threads suspect row"
grep -Eq '^  heap +\+204\.8 KiB/s +1\.0 MiB -> 3\.0 MiB +0\.90 +- +t\?"q\.c:7 after$' "$T/w2" ||
	fail "heap suspect row"
ok "watch: frames, trends and the suspects table from known inputs"

# Usage errors exit 2; a target that does not answer exits 1.
for args in "" "--json" "1 2" "$furl --seconds 0" "$furl --seconds x" "$furl --bogus" "notatarget"; do
	# shellcheck disable=SC2086
	"$NPROF" leaks $args >/dev/null 2>&1
	[ $? = 2 ] || fail "nprof leaks $args: want exit 2"
done
for args in "" "$furl --count 0" "$furl --interval 0" "$furl --interval 1s" "$furl extra" "$furl -x"; do
	# shellcheck disable=SC2086
	"$NPROF" watch $args >/dev/null 2>&1
	[ $? = 2 ] || fail "nprof watch $args: want exit 2"
done
"$NPROF" leaks --help | grep -q '^usage: nprof leaks' || fail "leaks --help"
"$NPROF" watch --help | grep -q '^usage: nprof watch' || fail "watch --help"
dead=$(free_port)
"$NPROF" watch "http://127.0.0.1:$dead" --count 1 2>"$T/err"
[ $? = 1 ] && [ "$(wc -l <"$T/err")" = 1 ] || fail "watch of nothing: $(cat "$T/err")"
"$NPROF" leaks "http://127.0.0.1:$dead" 2>"$T/err"
[ $? = 1 ] && grep -q '^nprof: cannot reach' "$T/err" || fail "leaks of nothing: $(cat "$T/err")"
ok "usage errors exit 2, unreachable targets exit 1 with one line"

# ---- a real leaking service ----------------------------------------
# timer_leak allocates a timer per loop turn in after() and never frees
# it; its noise (a pool, a table, a scratch buffer) must not come first.
start_under_nprof "$T/svc.out" -- "$BUILD/examples/timer_leak"
svc=$PID
await 20 grep -q '^turns' "$T/svc.out" || fail "timer_leak never turned"

ranked() {
	"$NPROF" leaks "$svc" --json >"$T/real.json" &&
		"$PY" - "$T/real.json" <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))["suspects"]
top = s[0]
frames = [top.get("site", {})] + top.get("stack", [])[:3]
sys.exit(0 if top["kind"] == "heap" and any(f.get("function") == "after" for f in frames) else 1)
PY
}
await 30 ranked || fail "leaks --json does not rank after() first: $(head -c 1500 "$T/real.json")"
ok "nprof leaks PID --json ranks the leaking line first"

"$NPROF" leaks "$svc" >"$T/real.txt" || fail "leaks PID"
grep -q 'timer_leak.c' "$T/real.txt" || fail "table lacks timer_leak.c: $(cat "$T/real.txt")"
"$NPROF" leaks "$svc" --seconds 2 --json >"$T/real2.json" || fail "leaks --seconds 2"
"$PY" -c 'import json,sys; json.load(open(sys.argv[1]))["suspects"]' "$T/real2.json" ||
	fail "leaks --seconds 2 --json"
ok "nprof leaks PID: table and --seconds"

"$NPROF" watch "$svc" --count 2 --interval 0.5 >"$T/rw" || fail "watch PID"
awk '/frame 2\/2/ { f = 1 } f' "$T/rw" >"$T/rw2"
grep -Eq '^  threads +2 +0$' "$T/rw2" || fail "watch threads: $(cat "$T/rw2")"
grep -Eq '^  heap in use +[0-9.]+ [KMG]iB +\+' "$T/rw2" || fail "watch heap not growing: $(cat "$T/rw2")"
grep -Eq '^  heap .* timer_leak\.c:[0-9]+ after$' "$T/rw2" || fail "watch top suspect: $(cat "$T/rw2")"
ok "nprof watch PID: totals, growth and the leaking line"
