#!/bin/bash
# demo.sh - `make demo`: example services run under nprof, and what nprof
# tells about each, followed by the commands and URLs to dig deeper.
# `make demo` has already installed what was missing and built everything.
#
# The services stay up for DEMO_KEEP seconds (default 600) so the URLs it
# prints can be opened, then stop by themselves; DEMO_KEEP=0 stops them
# when the demo ends.
set -u
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
NPROF=$BUILD/nprof
export HOME=${HOME:-/tmp}
KEEP=${DEMO_KEEP:-600}
tmp=$(mktemp -d /tmp/nprof-demo.XXXXXX)
pids=()
if [ "$KEEP" = 0 ]; then
	trap 'kill ${pids[*]} 2>/dev/null; wait 2>/dev/null; rm -rf "$tmp"' EXIT
else
	trap 'rm -rf "$tmp"' EXIT
fi

free_port() {
	python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# start NAME PORT CMD...: runs CMD under nprof with a TCP listener, for at
# most KEEP seconds, and waits until it answers. Appends its PID to pids.
start() {
	local name=$1 port=$2 limit=$KEEP
	shift 2
	[ "$limit" = 0 ] && limit=3600
	setsid timeout "$limit" "$NPROF" run --http "127.0.0.1:$port" -- "$@" >/dev/null 2>&1 </dev/null &
	local wrapper=$!
	for _ in $(seq 100); do
		if curl -s -o /dev/null "http://127.0.0.1:$port/debug/pprof/"; then
			pids+=("$(pgrep -P "$wrapper" | head -1)")
			return 0
		fi
		sleep 0.1
	done
	echo "demo: $name did not start" >&2
	exit 1
}

hr() { printf '\n==== %s ====\n' "$*"; }

hr "CPU: which line burns the CPU? (examples/busy.c)"
port=$(free_port)
start busy "$port" "$BUILD/examples/busy"
echo "busy is running as PID ${pids[-1]}; taking a 5-second CPU profile..."
go tool pprof -top -lines "http://127.0.0.1:$port/debug/pprof/profile?seconds=5" 2>/dev/null |
	sed -n '1,/flat%/p;/flat%/,+6p' | sed '/flat%/{x;/./!{x;b};x;d}' | uniq
cat <<TXT

The hottest lines are in mix(), which the compiler inlined into
checksum_block(): nprof reports inlined frames with their own lines.

Dig deeper (the service keeps running):
  web UI (flame graph): http://127.0.0.1:$port/debug/pprof/ui#flame?p=profile&seconds=5
  go tool pprof -http : 'http://127.0.0.1:$port/debug/pprof/profile?seconds=10'
  $NPROF fetch ${pids[-1]} profile --seconds 10 -o cpu.pb.gz
  curl http://127.0.0.1:$port/debug/pprof/
TXT

for extra in scripts/demo.d/*.sh; do
	[ -f "$extra" ] && source "$extra"
done
hr "done"
if [ "$KEEP" != 0 ]; then
	echo "The example services (PIDs ${pids[*]}) keep running for $((KEEP / 60)) minutes so the URLs"
	echo "above work; they stop by themselves (or: kill ${pids[*]})."
fi
echo "Run 'make check' for the whole test suite."
