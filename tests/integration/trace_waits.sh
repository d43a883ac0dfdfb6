# trace_waits.sh - /debug/pprof/trace of a program whose threads wait in
# read, poll, epoll_wait, nanosleep, accept and pthread_mutex_lock: each
# wait is named with its program line, every thread has a named track,
# the file follows the Trace Event Format's rules and loads in Chrome
# DevTools' trace model (tests/ui/trace_check.js); no wait sees EINTR; the
# reply is a gzipped JSON attachment; seconds above 60 are refused.
source "$(dirname "$0")/../lib.sh"

[ -d "$ROOT/tests/ui/node_modules/tracelib" ] ||
	(cd "$ROOT/tests/ui" && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --ignore-scripts --no-audit --no-fund >/dev/null) ||
	fail "npm ci in tests/ui"

port=$(free_port)
start_under_nprof "$T/w.out" --http "127.0.0.1:$port" -- "$BUILD/tests/programs/trace_waits"
await 20 grep -q ready "$T/w.out" || fail "trace_waits never got ready"
src=tests/programs/trace_waits.c

curl -sS -D "$T/h" -o "$T/trace.json.gz" "http://127.0.0.1:$port/debug/pprof/trace?seconds=3" ||
	fail "curl trace"
# The program's long-lived threads (nprof's own threads are not traced;
# a w-short may have started after the window).
tids=$(for t in /proc/"$PID"/task/*; do
	case $(cat "$t/comm") in w-short) ;; w-* | trace_waits) printf '%s,' "${t##*/}" ;; esac
done)
[ "$(echo "$tids" | tr ',' '\n' | grep -c .)" -ge 8 ] || fail "threads not all found: $tids"
grep -qi '^content-type: application/json' "$T/h" || fail "content type: $(cat "$T/h")"
grep -qi '^content-disposition: attachment; filename="trace.json.gz"' "$T/h" || fail "disposition: $(cat "$T/h")"
gzip -t "$T/trace.json.gz" || fail "body is not gzip"
zcat "$T/trace.json.gz" >"$T/trace.json"
ok "trace: $(wc -c <"$T/trace.json.gz") bytes gzipped, $(wc -c <"$T/trace.json") bytes of JSON"

(cd "$ROOT/tests/ui" && node trace_check.js "$T/trace.json" 3 "$tids" \
	"w-read=read@trace_waits.c:" "w-poll=poll@trace_waits.c:" "w-epoll=epoll_wait@trace_waits.c:" \
	"w-sleep=nanosleep@trace_waits.c:" "w-accept=accept@trace_waits.c:" \
	"w-mutex=pthread_mutex_lock@trace_waits.c:" "w-spin=running") || fail "trace checks"
grep -q EINTR "$T/w.out" && fail "a wait was interrupted: $(cat "$T/w.out")"
kill -0 "$PID" || fail "trace_waits died"
ok "no wait was interrupted"

st=$(http_status "http://127.0.0.1:$port/debug/pprof/trace?seconds=61")
[ "$st" = 400 ] || fail "seconds=61 answered $st, want 400"
ok "seconds=61 refused"
