# cli_fetch.sh - `nprof fetch` and `nprof ps` against real processes
# running nprof: by PID through the unix socket, by URL over TCP with and
# without a token, errors as one line without a partial output file.
source "$(dirname "$0")/../lib.sh"

port=$(free_port)
start_under_nprof "$T/busy.out" --http ":$port" -- "$BUILD/examples/busy"
busy=$PID

"$NPROF" fetch "$busy" profile --seconds 1 -o "$T/cpu.pb.gz" || fail "fetch PID profile"
pprof -raw "$T/cpu.pb.gz" | grep -q 'PeriodType: cpu nanoseconds' || fail "fetched profile unreadable"
[ -e "$T/cpu.pb.gz.tmp" ] && fail "fetch left a .tmp file"
ok "fetch by PID over the unix socket"

for url in "http://127.0.0.1:$port" "http://127.0.0.1:$port/debug/pprof/"; do
	"$NPROF" fetch "$url" profile --seconds 1 -o - >"$T/u.pb.gz" || fail "fetch $url"
	pprof -raw "$T/u.pb.gz" >/dev/null || fail "fetch $url: unreadable"
done
ok "fetch by URL"

echo old >"$T/keep"
"$NPROF" fetch "$busy" nosuch -o "$T/keep" 2>"$T/err" && fail "fetch of an unknown profile succeeded"
[ "$(wc -l <"$T/err")" = 1 ] && grep -q '^nprof: nosuch: HTTP 404: ' "$T/err" || fail "message: $(cat "$T/err")"
[ "$(cat "$T/keep")" = old ] || fail "a failed fetch overwrote the output file"
"$NPROF" fetch "$busy" profile --seconds abc -o "$T/x" 2>"$T/err"
rc=$?
[ $rc = 1 ] || [ $rc = 2 ] || fail "fetch --seconds abc exit $rc"
ok "fetch errors: one line, output untouched"

# A token guards TCP; the unix socket (0600) needs none.
tport=$(free_port)
start_under_nprof "$T/tok.out" --http ":$tport" --token s3cret -- "$BUILD/examples/idle"
"$NPROF" fetch "http://127.0.0.1:$tport" profile --seconds 1 -o "$T/t" 2>"$T/err" &&
	fail "fetch without the token succeeded"
grep -q 'HTTP 401' "$T/err" || fail "no 401: $(cat "$T/err")"
NPROF_TOKEN=s3cret "$NPROF" fetch "http://127.0.0.1:$tport" profile --seconds 1 -o "$T/t" ||
	fail "fetch with the token"
"$NPROF" fetch "$PID" profile --seconds 1 -o "$T/t2" || fail "unix socket needed a token"
ok "token on TCP"

"$NPROF" ps >"$T/ps" || fail "nprof ps"
cat "$T/ps"
grep -Eq "^ *$busy +[0-9]+ +busy +.*/nprof/$busy\.sock +http://127\.0\.0\.1:$port\$" "$T/ps" ||
	grep -Eq "^ *$busy +[0-9]+ +busy +.*$busy\.sock" "$T/ps" || fail "ps lacks the busy process"
grep -Eq "^ *$PID +[0-9]+ +idle " "$T/ps" || fail "ps lacks the idle process"
kill -9 "$busy"
wait "$busy" 2>/dev/null
"$NPROF" ps >"$T/ps2"
grep -Eq "^ *$busy " "$T/ps2" && fail "ps lists a dead process"
ok "ps lists live processes only"
