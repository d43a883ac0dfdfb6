# cli_ui.sh - `nprof ui PID`: a local proxy to a socket-only process. The
# UI page and files come through gzipped as served, with the process's
# Content-Security-Policy, byte for byte; go tool pprof reads a proxied
# profile; "/" redirects to the UI; a foreign Host header gets 403,
# POST 405; a non-loopback --listen is a usage error; an unknown PID fails.
source "$(dirname "$0")/../lib.sh"

start_under_nprof "$T/app.out" -- "$BUILD/examples/idle"
"$NPROF" ui "$PID" --listen 127.0.0.1:0 >"$T/ui.out" 2>&1 &
PIDS+=($!)
await 20 grep -q 'http://' "$T/ui.out" || fail "no URL printed: $(cat "$T/ui.out")"
url=$(grep -o 'http://[0-9.:]*' "$T/ui.out" | head -1)
grep -q "serving PID $PID at $url/debug/pprof/ui" "$T/ui.out" || fail "banner: $(cat "$T/ui.out")"
ok "$(cat "$T/ui.out")"

curl -s -D "$T/h" -o "$T/page.gz" "$url/debug/pprof/ui" || fail "GET ui"
grep -qi '^content-encoding: gzip' "$T/h" || fail "page not gzipped as served: $(cat "$T/h")"
grep -qi "^content-security-policy: default-src 'self'" "$T/h" || fail "no CSP: $(cat "$T/h")"
zcat "$T/page.gz" | grep -q '/debug/pprof/ui/app.js' || fail "page body"
ok "the UI page comes through gzipped with its CSP"

curl -s -o "$T/direct.js.gz" --unix-socket "$(sock_of "$PID")" http://localhost/debug/pprof/ui/app.js
curl -s -o "$T/proxied.js.gz" "$url/debug/pprof/ui/app.js"
cmp -s "$T/direct.js.gz" "$T/proxied.js.gz" || fail "app.js differs through the proxy"
curl -s -o "$T/proxied.pb.gz" "$url/debug/pprof/threadcreate"
go tool pprof -raw "$T/proxied.pb.gz" >/dev/null 2>"$T/pprof.err" || fail "pprof: $(cat "$T/pprof.err")"
ok "files come through byte for byte; go tool pprof reads a proxied profile"

[ "$(http_status "$url/")" = 302 ] || fail "/ is not a redirect"
[ "$(http_status -H 'Host: evil.example' "$url/debug/pprof/ui")" = 403 ] || fail "foreign Host not refused"
[ "$(http_status -X POST "$url/debug/pprof/symbol")" = 405 ] || fail "POST not refused"
[ "$(http_status "$url/etc/passwd")" = 404 ] || fail "path outside /debug/pprof served"
ok "redirect, Host check, method and path limits"

"$NPROF" ui "$PID" --listen 0.0.0.0:0 >/dev/null 2>&1
[ $? = 2 ] || fail "non-loopback --listen accepted"
"$NPROF" ui 999999999 >/dev/null 2>&1
[ $? = 1 ] || fail "unknown PID did not fail with 1"
ok "non-loopback listen refused (2), unknown PID fails (1)"
