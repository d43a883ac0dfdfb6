# bad_input.sh - bad configuration and bad requests: one clear line on
# stderr and a program that runs normally; 400/403/404/409 with a reason,
# X-Go-Pprof: 1 on errors and nosniff on every answer.
source "$(dirname "$0")/../lib.sh"

# Bad variables: a message naming the variable, and the program still runs
# and still serves on its unix socket.
NPROF_HTTP=garbage NPROF_CPU_HZ=abc NPROF_HEAP_RATE=xyz \
	start_under_nprof "$T/bad.out" -- "$BUILD/examples/busy"
grep -q '^nprof: NPROF_HTTP=garbage: ' "$T/bad.out" || fail "no message for NPROF_HTTP: $(cat "$T/bad.out")"
grep -q '^nprof: NPROF_CPU_HZ=abc: ' "$T/bad.out" || fail "no message for NPROF_CPU_HZ"
grep -q '^nprof: NPROF_HEAP_RATE=xyz: ' "$T/bad.out" || fail "no message for NPROF_HEAP_RATE"
[ "$(grep -c '^nprof: NPROF_HTTP' "$T/bad.out")" = 1 ] || fail "NPROF_HTTP reported more than once"
await 10 grep -q '^busy: pid' "$T/bad.out" || fail "program did not run: $(cat "$T/bad.out")"
[ "$(http_status --unix-socket "$(sock_of $PID)" http://localhost/debug/pprof/)" = 200 ] ||
	fail "unix socket not serving after bad config"
kill -0 "$PID" || fail "program died"
ok "bad variables: one line each, program unharmed"

port=$(free_port)
start_under_nprof "$T/busy.out" --http "127.0.0.1:$port" -- "$BUILD/examples/busy"
base="http://127.0.0.1:$port/debug/pprof"

expect() { # expect STATUS URL [curl args]: status, X-Go-Pprof and nosniff
	local want=$1 url=$2
	shift 2
	curl -s -D "$T/h" -o "$T/b" --max-time 30 "$@" "$url"
	local got
	got=$(awk 'NR==1 {print $2}' "$T/h")
	[ "$got" = "$want" ] || fail "$url: status $got, want $want; body: $(cat "$T/b")"
	grep -qi '^x-content-type-options: nosniff' "$T/h" || fail "$url: no nosniff"
	if [ "$want" -ge 400 ]; then
		grep -qi '^x-go-pprof: 1' "$T/h" || fail "$url: error without X-Go-Pprof"
		[ "$(wc -l <"$T/b")" -le 1 ] || fail "$url: error body is not one line"
	fi
}
for s in abc -1 0 1e12 99999999999; do
	expect 400 "$base/profile?seconds=$s"
	ok "seconds=$s -> 400: $(cat "$T/b")"
done
expect 400 "$base/profile?debug=7"
expect 404 "$base/cmdline"
expect 404 "$base/no_such_profile"
expect 403 "$base/" -H 'Host: evil.example'
ok "foreign Host -> 403: $(cat "$T/b")"
expect 200 "$base/"
grep -q 'profile' "$T/b" || fail "index lacks the profile entry"

# Two CPU profiles at once: the second is refused at once with 409.
# The first profile is running once its per-thread timers exist.
has_timers() { grep -q '^ID:' "/proc/$PID/timers"; }
no_timers() { ! has_timers; }
curl -s -o "$T/first.pb.gz" -w '%{http_code}' --max-time 30 "$base/profile?seconds=4" >"$T/first.code" &
first=$!
await 10 has_timers || fail "the first CPU profile never armed its timers"
[ "$(http_status "$base/profile?seconds=1")" = 409 ] ||
	fail "a second concurrent CPU profile was not refused with 409"
ok "second CPU profile -> 409"
wait $first
[ "$(cat "$T/first.code")" = 200 ] || fail "the first profile failed: $(cat "$T/first.code")"
pprof -raw "$T/first.pb.gz" >/dev/null || fail "first profile invalid"
await 10 no_timers || fail "timers left after the profile ended"

# A client that hangs up stops the profile: its timers go away long
# before the 30 seconds it asked for, and the next profile may start.
curl -s -o /dev/null --max-time 1 "$base/profile?seconds=30"
await 10 no_timers || fail "profile still running after the client hung up"
[ "$(http_status "$base/profile?seconds=1")" = 200 ] || fail "no profile possible after a hang-up"
ok "client hang-up ends the profile"

# Out-of-range CPU rate values are clamped or refused with a message.
for hz in 0 -5 1000000000; do
	NPROF_CPU_HZ=$hz NPROF_SOCKET=off "$BUILD/nprof" run -- /bin/true 2>"$T/hz.err" ||
		fail "program failed with NPROF_CPU_HZ=$hz"
	grep -q "^nprof: NPROF_CPU_HZ=$hz: " "$T/hz.err" || fail "no message for NPROF_CPU_HZ=$hz"
done
ok "NPROF_CPU_HZ 0, -5, 1e9: message, program runs"
