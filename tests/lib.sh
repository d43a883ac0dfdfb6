# lib.sh - helpers shared by the integration tests (sourced, not run).
#
# Tests start real programs under nprof, talk to them with curl and read
# their profiles with `go tool pprof`. Nothing here sleeps for a fixed time
# to stand in for synchronisation: `await` polls a condition with a bound.

set -u
BUILD=${BUILD:-build}
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=$(cd "$ROOT" && cd "$BUILD" && pwd)
NPROF="$BUILD/nprof"
# NPROF_LIB (as for `nprof run`) names the library to preload instead: a
# sanitizer check runs its sanitized CLI with the plain library of build/.
LIB=${NPROF_LIB:-$BUILD/libnprof.so}
T=$(mktemp -d "${NPROF_TEST_TMP:-/tmp}/t.XXXXXX")
export HOME=${HOME:-$T}
export GOCACHE=${GOCACHE:-$T/gocache}
export GOFLAGS=-mod=mod
# Sockets of this test's programs live in a private directory.
export XDG_RUNTIME_DIR=$T/run
mkdir -p "$XDG_RUNTIME_DIR" && chmod 700 "$XDG_RUNTIME_DIR"

PIDS=()
cleanup() {
	for p in "${PIDS[@]}"; do kill -9 "$p" 2>/dev/null; done
	wait 2>/dev/null
}
trap cleanup EXIT

fail() {
	echo "FAIL: $*" >&2
	exit 1
}

ok() {
	echo "ok: $*"
}

# await SECONDS CMD...: runs CMD until it succeeds; fails after SECONDS.
await() {
	local limit=$1
	shift
	local end=$((SECONDS + limit))
	until "$@" >/dev/null 2>&1; do
		[ $SECONDS -ge $end ] && return 1
		sleep 0.05
	done
}

# A free TCP port on loopback.
free_port() {
	python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

sock_of() {
	echo "$XDG_RUNTIME_DIR/nprof/$1.sock"
}

# start_under_nprof OUTFILE [nprof run flags] -- CMD...: starts CMD under
# `nprof run` in the background, sets PID, and waits for its socket.
start_under_nprof() {
	local out=$1
	shift
	"$NPROF" run "$@" >"$out" 2>&1 &
	PID=$!
	PIDS+=("$PID")
	await 20 test -S "$(sock_of $PID)" || {
		cat "$out" >&2
		fail "socket of pid $PID never appeared"
	}
}

# ucurl PID PATH [curl args]: a request over the process's unix socket.
ucurl() {
	local pid=$1 path=$2
	shift 2
	curl -sS --max-time 120 --unix-socket "$(sock_of "$pid")" "$@" "http://localhost$path"
}

# status_of CURL-ARGS...: prints the HTTP status only.
http_status() {
	curl -s -o /dev/null -w '%{http_code}' --max-time 60 "$@"
}

pprof() {
	go tool pprof "$@" 2>"$T/pprof.err"
}
