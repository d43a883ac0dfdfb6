#!/bin/bash
# leaks.sh - part of `make bench`: how fast and how reliably nprof names a
# leak at its default settings, and what it says about real servers that
# do not leak.
#
# 1. Each leaking example near the thresholds (heap_trickle 300 KB/s,
#    fd_trickle 3 fds/s, thread_trickle 3 threads/s, each beside noise
#    that grows for a while) is run LEAK_RUNS times (default 20) through
#    scripts/leak_time.sh: a hit is the LEAK line named first by
#    /debug/pprof/leaks within 15 s with no NOISE line among the first
#    three. Prints the hit rate and the median time to be named.
# 2. memcached (memcslap), mariadbd (mariadb-slap) and redis
#    (redis-benchmark -r 2000) under steady load for QUIET_SECONDS
#    (default 60) after a warm-up: prints every suspect nprof ranks (there
#    should be none at confidence >= 0.5).
set -u
cd "$(dirname "$0")/.."
source bench/lib.sh
BUILD=${BUILD:-build}
export BUILD
RUNS=${LEAK_RUNS:-20}
QUIET=${QUIET_SECONDS:-60}
NPROF=$BUILD/nprof

echo "## Leaks named at the default settings ($RUNS runs each, limit 15 s)"
echo
echo "| example | leak | named within 15 s | median time to named |"
echo "| --- | --- | --- | --- |"
declare -A what=([heap_trickle]="300 KB/s heap" [fd_trickle]="3 fds/s" [thread_trickle]="3 threads/s")
tmp=$(mktemp -d /tmp/nprof-bench-leaks.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
for ex in heap_trickle fd_trickle thread_trickle; do : >"$tmp/$ex"; done
for _ in $(seq "$RUNS"); do
	# One of each at a time: three programs side by side, as a machine
	# with a few services would run them.
	for ex in heap_trickle fd_trickle thread_trickle; do
		scripts/leak_time.sh "$ex" 15 >>"$tmp/$ex" &
	done
	wait
done
for ex in heap_trickle fd_trickle thread_trickle; do
	hits=$(grep -c '^named' "$tmp/$ex")
	med=$(awk '/^named/{print $2}' "$tmp/$ex" | median)
	echo "| $ex | ${what[$ex]} | $hits / $RUNS | ${med:--} s |"
	grep -v '^named' "$tmp/$ex" | sort | uniq -c | sed 's/^/    missed: /' >&2
done

# quiet SERVER-NAME PID: prints the suspects of PID's /debug/pprof/leaks.
quiet() {
	local sock=$XDG_RUNTIME_DIR/nprof/$2.sock
	curl -s --unix-socket "$sock" "http://localhost/debug/pprof/leaks?format=json" -o "$tmp/q.json" ||
		{ echo "| $1 | (no answer) |"; return; }
	local s
	s=$(python3 tests/preload/leaks_quiet.py "$tmp/q.json" | sed 's/^ *suspect: //' | tr '\n' ';')
	echo "| $1 | ${s:-none} |"
}
free_port() {
	python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}
export XDG_RUNTIME_DIR=$tmp/run
mkdir -p "$XDG_RUNTIME_DIR" && chmod 700 "$XDG_RUNTIME_DIR"

echo
echo "## Real servers under steady load, ${QUIET} s after warm-up: suspects seen"
echo
echo "| server | suspects (kind site confidence) |"
echo "| --- | --- |"
pids=()
until_quiet() { local end=$((SECONDS + QUIET)); while [ $SECONDS -lt $end ]; do "$@" >/dev/null 2>&1; done; }

if command -v memcached >/dev/null && command -v memcslap >/dev/null; then
	p=$(free_port)
	"$NPROF" run -- memcached -l 127.0.0.1 -p "$p" -U 0 -t 4 -m 64 $( [ "$(id -u)" = 0 ] && echo -u root ) \
		>"$tmp/mc.out" 2>&1 &
	mc=$!
	sleep 1
	memcslap --servers=127.0.0.1:"$p" --concurrency=8 --execute-number=20000 >/dev/null 2>&1
	until_quiet memcslap --servers=127.0.0.1:"$p" --concurrency=8 --execute-number=20000
	quiet memcached "$mc"
	kill "$mc"; wait "$mc" 2>/dev/null
fi

if command -v redis-server >/dev/null && command -v redis-benchmark >/dev/null; then
	p=$(free_port)
	"$NPROF" run -- redis-server --port "$p" --bind 127.0.0.1 --save '' --appendonly no \
		--dir "$tmp" >"$tmp/redis.out" 2>&1 &
	rd=$!
	sleep 1
	redis-benchmark -p "$p" -q -r 2000 -n 20000 -c 10 >/dev/null 2>&1
	until_quiet redis-benchmark -p "$p" -q -r 2000 -n 20000 -c 10 -t set,get,incr,lpush,lpop,hset
	quiet redis-server "$rd"
	kill "$rd"; wait "$rd" 2>/dev/null
fi

if command -v mariadbd >/dev/null && command -v mariadb-install-db >/dev/null; then
	db=$tmp/db
	mkdir -p "$db"
	user=$(id -un)
	mariadb-install-db --no-defaults --datadir="$db/data" --user="$user" \
		--auth-root-authentication-method=normal >"$tmp/install.out" 2>&1
	"$NPROF" run -- mariadbd --no-defaults --datadir="$db/data" --socket="$db/sock" \
		--skip-networking --user="$user" --pid-file="$db/pid" >"$tmp/mariadb.out" 2>&1 &
	md=$!
	for _ in $(seq 100); do [ -S "$db/sock" ] && break; sleep 0.2; done
	slap() {
		mariadb-slap --no-defaults --socket="$db/sock" -uroot --concurrency=8 --iterations=1 \
			--number-of-queries=2000 --auto-generate-sql --auto-generate-sql-load-type=read
	}
	slap >/dev/null 2>&1
	until_quiet slap
	quiet mariadbd "$md"
	kill "$md"; wait "$md" 2>/dev/null
fi
