# http_config.sh - configuration edge cases of the endpoint: a long token
# is enforced, an unusable one keeps TCP off with one line, a bad NPROF_OUT
# says so once, control characters in a value are never printed raw, and
# NPROF_SOCKET=OFF means off in any case.
source "$(dirname "$0")/../lib.sh"

IDLE="$BUILD/examples/idle"

# start_env OUT VAR=VALUE...: the idle example under LD_PRELOAD with the
# given settings; sets PID and waits for its unix socket.
start_env() {
	local out=$1
	shift
	env "$@" LD_PRELOAD="$LIB" "$IDLE" >"$out" 2>&1 &
	PID=$!
	PIDS+=("$PID")
	await 20 test -S "$(sock_of $PID)" || { cat "$out" >&2; fail "no socket for $*"; }
}

# 1. A 128-character token (openssl rand -hex 64) and a 4096-byte one are enforced.
for len in 128 4096; do
	tok=$(head -c $((len / 2)) /dev/urandom | od -An -tx1 | tr -d ' \n')
	[ ${#tok} -eq $len ] || fail "made a token of ${#tok} bytes"
	port=$(free_port)
	start_env "$T/tok$len.out" NPROF_HTTP=127.0.0.1:$port NPROF_TOKEN="$tok"
	await 10 curl -s -o /dev/null "http://127.0.0.1:$port/debug/pprof/" ||
		fail "TCP listener with a $len-byte token never came up: $(cat "$T/tok$len.out")"
	st=$(http_status "http://127.0.0.1:$port/debug/pprof/heap")
	[ "$st" = 401 ] || fail "$len-byte token: no token gave $st, want 401"
	st=$(http_status -H "Authorization: Bearer ${tok%?}x" "http://127.0.0.1:$port/debug/pprof/heap")
	[ "$st" = 401 ] || fail "$len-byte token: a wrong last byte gave $st, want 401"
	st=$(http_status -H "Authorization: Bearer $tok" "http://127.0.0.1:$port/debug/pprof/heap")
	[ "$st" = 200 ] || fail "$len-byte token: the right token gave $st, want 200"
	ok "a $len-byte token is enforced"
done

# 2. Tokens nprof cannot use keep TCP off, with one line; the unix socket stays.
long=$(head -c 5000 /dev/zero | tr '\0' a)
i=0
for tok in "$long" "" "   " "two words"; do
	i=$((i + 1))
	port=$(free_port)
	start_env "$T/badtok$i.out" NPROF_HTTP=127.0.0.1:$port NPROF_TOKEN="$tok"
	await 10 curl -s -o /dev/null --unix-socket "$(sock_of $PID)" http://localhost/debug/pprof/ ||
		fail "unix socket does not answer"
	st=$(http_status "http://127.0.0.1:$port/debug/pprof/heap")
	[ "$st" = 000 ] || fail "unusable token #$i: TCP answered $st; must stay closed"
	n=$(grep -c 'NPROF_TOKEN' "$T/badtok$i.out")
	[ "$n" = 1 ] || fail "unusable token #$i: $n lines about NPROF_TOKEN, want 1: $(cat "$T/badtok$i.out")"
	if [ -n "$tok" ] && grep -qF -- "${tok:0:64}" "$T/badtok$i.out" && [ "${tok// /}" != "" ]; then
		fail "unusable token #$i was printed"
	fi
	kill "$PID"
done
ok "unusable tokens keep TCP closed with one line each"

# 3. A bad NPROF_OUT: one line at exit, not one per report.
env NPROF_OUT=/proc/self/nonexistent/out LD_PRELOAD="$LIB" /bin/true 2>"$T/out.err"
n=$(grep -c 'NPROF_OUT' "$T/out.err")
[ "$n" = 1 ] || fail "bad NPROF_OUT printed $n lines, want 1: $(cat "$T/out.err")"
ok "bad NPROF_OUT: one line"

# 4. A newline or other control character in a value is escaped, never raw.
env NPROF_CPU_HZ=$'12\nnprof: forged line\x1b[31m' LD_PRELOAD="$LIB" /bin/true 2>"$T/nl.err"
grep -q '^nprof: forged line' "$T/nl.err" && fail "a newline in a value was printed raw: $(cat -A "$T/nl.err")"
grep -q $'\x1b' "$T/nl.err" && fail "an escape byte in a value was printed raw"
grep -q 'NPROF_CPU_HZ=12\\nnprof: forged line' "$T/nl.err" ||
	fail "the value is not shown escaped: $(cat -A "$T/nl.err")"
ok "control characters in values are escaped"

# 5. NPROF_SOCKET=OFF (any case) means off, not a socket file named OFF.
mkdir -p "$T/cwd" && cd "$T/cwd"
for v in OFF Off; do
	env NPROF_SOCKET=$v LD_PRELOAD="$LIB" /bin/true 2>"$T/off.err"
	[ -e "$T/cwd/$v" ] && fail "NPROF_SOCKET=$v created a socket named $v"
	[ -s "$T/off.err" ] && fail "NPROF_SOCKET=$v printed: $(cat "$T/off.err")"
done
cd "$ROOT"
ok "NPROF_SOCKET=OFF/Off is off"
