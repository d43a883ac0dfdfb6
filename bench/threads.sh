#!/bin/bash
# threads.sh - time to dump every stack of a process with 1,000 and 10,000
# threads parked in pthread_cond_wait (tests/programs/threads_many: 64 KiB
# stacks), three ways on the same process:
#   nprof        GET /debug/pprof/goroutine?debug=2 over the unix socket
#                (collection + symbolization + text, as a user gets it),
#                and the in-process collection alone as nprof reports it
#   eu-stack -p PID                        (elfutils, ptrace)
#   gdb -batch -ex 'thread apply all bt'   (ptrace)
# nprof: median of 5 dumps after one warm-up; the others: one run each
# (they take seconds). Prints a markdown table and saves it as
# bench/results/threads.md. Never fails for being slow.
set -u
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
bin=$BUILD/tests/programs/threads_many
[ -x "$bin" ] || make -s "$bin" >/dev/null
tmp=$(mktemp -d)
pid=
trap '[ -n "$pid" ] && kill -9 $pid 2>/dev/null; rm -rf "$tmp"' EXIT
export XDG_RUNTIME_DIR=$tmp/run
mkdir -p "$XDG_RUNTIME_DIR" && chmod 700 "$XDG_RUNTIME_DIR"

now() { date +%s.%N; }
source bench/lib.sh
# secs CMD...: wall seconds of CMD (output discarded).
secs() {
	local t0
	t0=$(now)
	"$@" >/dev/null 2>&1
	echo "$(now) - $t0" | bc
}

load0=$(cut -d' ' -f1-3 /proc/loadavg)
table=$tmp/table
{
	echo "| threads | nprof debug=2 (s) | nprof collection (ms) | eu-stack -p (s) | gdb thread apply all bt (s) | eu-stack / nprof | gdb / nprof |"
	echo "| --- | --- | --- | --- | --- | --- | --- |"
} >"$table"
for n in 1000 10000; do
	LD_PRELOAD=$PWD/$BUILD/libnprof.so "$bin" "$n" >"$tmp/out" 2>&1 &
	pid=$!
	for _ in $(seq 600); do grep -q "^ready" "$tmp/out" && break; sleep 0.1; done
	sock=$XDG_RUNTIME_DIR/nprof/$pid.sock
	for _ in $(seq 100); do [ -S "$sock" ] && break; sleep 0.1; done
	get() { curl -s --max-time 120 --unix-socket "$sock" "http://localhost/debug/pprof/goroutine?debug=2" -o "$tmp/dump"; }
	get   # warm-up: libdw loads the modules once
	t=""
	for _ in 1 2 3 4 5; do t+="$(secs get) "; done
	nprof_s=$(echo "$t" | median)
	coll=$(grep -o 'collected in [0-9.]* ms' "$tmp/dump" | awk '{print $3}')
	listed=$(grep -c '^thread ' "$tmp/dump")
	eu="n/a" gd="n/a"
	if command -v eu-stack >/dev/null; then
		eu=$(secs timeout 300 eu-stack -p "$pid")
	fi
	if command -v gdb >/dev/null; then
		gd=$(secs timeout 300 gdb -batch -nx -ex 'set pagination off' -ex 'thread apply all bt' -p "$pid")
	fi
	ratio() { [ "$1" = n/a ] && echo n/a || printf '%.0f×' "$(echo "$1 / $nprof_s" | bc -l)"; }
	fmt() { [ "$1" = n/a ] && echo n/a || printf '%.2f' "$1"; }
	printf '| %d (%d listed) | %.3f | %s | %s | %s | %s | %s |\n' "$n" "$listed" "$nprof_s" "$coll" \
		"$(fmt "$eu")" "$(fmt "$gd")" "$(ratio "$eu")" "$(ratio "$gd")" >>"$table"
	kill -9 "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null
	pid=
done
{
	echo "Thread dump of threads parked in pthread_cond_wait (target: 10,000 in ≤ 0.15 s, no EINTR)"
	echo
	cat "$table"
} | tee "$tmp/result"
mkdir -p bench/results
{
	echo "# Thread dumps"
	echo
	echo "$(date -u +%Y-%m-%d) on $(nproc) cores, $(uname -r); load average before: $load0"
	echo
	cat "$tmp/result"
} >bench/results/threads.md
