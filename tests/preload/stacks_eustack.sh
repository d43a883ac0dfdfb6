# stacks_eustack.sh - the stacks of blocked threads nprof reports equal
# eu-stack's frame for frame (tests/eustack_compare.py says how they are
# compared), for the examples and for real servers nprof did not write:
# redis-server, memcached, nginx (those installed; redis is required).
source "$(dirname "$0")/../lib.sh"

command -v eu-stack >/dev/null || fail "eu-stack missing (elfutils; scripts/deps.sh test installs it)"
command -v redis-server >/dev/null || fail "redis-server missing (scripts/deps.sh test installs it)"
CMP="$ROOT/tests/eustack_compare.py"

compare() { # NAME PID MIN-THREADS
	local name=$1 pid=$2 min=$3 try
	# nprof and eu-stack look one after the other: a thread that wakes in
	# between (jemalloc's background threads switch between a timed and an
	# untimed wait) legitimately differs. Up to three looks; a wrong
	# unwind differs every time.
	for try in 1 2 3; do
		python3 "$CMP" "$pid" "$(sock_of "$pid")" --min "$min" >"$T/$name.cmp" 2>&1 && break
		[ $try = 3 ] && fail "$name: nprof and eu-stack differ: $(cat "$T/$name.cmp")"
	done
	ok "$name: $(tail -1 "$T/$name.cmp") (look $try)"
}

# Examples: idle (condition wait, sleep) and every interposed primitive.
start_under_nprof "$T/idle.out" -- "$BUILD/examples/idle"
await 10 grep -q 'idle: pid' "$T/idle.out" || fail "idle did not start"
compare idle "$PID" 2
# eu-stack's stop interrupted the main thread's sleep, which the kernel
# restarts as restart_syscall: still named as the call it restarts, its
# wait counted from before the stop.
ucurl "$PID" "/debug/pprof/goroutine?debug=2" >"$T/idle.g2"
grep -Eq '^thread [0-9]+ "idle" \[nanosleep( \(restarted\))?, ≥[0-9]+ seconds? \(seen since\)\]:$' "$T/idle.g2" ||
	fail "idle main thread's wait: $(grep '^thread' "$T/idle.g2")"
! grep -Eq 'syscall [0-9]+|restart_syscall' "$T/idle.g2" || fail "an unnamed wait: $(grep '^thread' "$T/idle.g2")"
ok "after eu-stack: $(grep -o '\[nanosleep[^]]*\]' "$T/idle.g2")"
start_under_nprof "$T/waits.out" -- "$BUILD/tests/programs/threads_waits"
await 10 grep -q '^ready' "$T/waits.out" || fail "threads_waits not ready"
compare threads_waits "$PID" 10

# redis-server: idle, every thread blocked (event loop in epoll_wait,
# background I/O threads in condition waits).
rport=$(free_port)
"$NPROF" run -- redis-server --port "$rport" --bind 127.0.0.1 --save '' --appendonly no \
	--dir "$T" >"$T/redis.out" 2>&1 &
PID=$!
PIDS+=("$PID")
await 20 test -S "$(sock_of $PID)" || fail "no nprof socket in redis: $(cat "$T/redis.out")"
pong() { [ "$(redis-cli -p "$rport" ping 2>/dev/null)" = PONG ]; }
await 20 pong || fail "redis does not answer: $(cat "$T/redis.out")"
compare redis-server "$PID" 3

if command -v memcached >/dev/null; then
	mport=$(free_port)
	"$NPROF" run -- memcached -l 127.0.0.1 -p "$mport" -U 0 -u root >"$T/mc.out" 2>&1 &
	PID=$!
	PIDS+=("$PID")
	await 20 test -S "$(sock_of $PID)" || fail "no nprof socket in memcached: $(cat "$T/mc.out")"
	listening() { ss -ltn | grep -q "127.0.0.1:$mport "; }
	await 20 listening || fail "memcached does not listen: $(cat "$T/mc.out")"
	compare memcached "$PID" 4
fi

if [ -x /usr/sbin/nginx ]; then
	nport=$(free_port)
	mkdir -p "$T/nginx/logs"
	cat >"$T/nginx/nginx.conf" <<EOF
daemon off;
master_process off;
error_log $T/nginx/logs/error.log;
pid $T/nginx/nginx.pid;
events { worker_connections 64; }
http {
	access_log off;
	client_body_temp_path $T/nginx/tmp;
	proxy_temp_path $T/nginx/tmp;
	fastcgi_temp_path $T/nginx/tmp;
	uwsgi_temp_path $T/nginx/tmp;
	scgi_temp_path $T/nginx/tmp;
	server { listen 127.0.0.1:$nport; location / { return 200 "ok\n"; } }
}
EOF
	"$NPROF" run -- /usr/sbin/nginx -p "$T/nginx" -c "$T/nginx/nginx.conf" >"$T/nginx.out" 2>&1 &
	PID=$!
	PIDS+=("$PID")
	await 20 test -S "$(sock_of $PID)" || fail "no nprof socket in nginx: $(cat "$T/nginx.out")"
	served() { curl -sf "http://127.0.0.1:$nport/" | grep -q ok; }
	await 20 served || fail "nginx does not answer: $(cat "$T/nginx.out")"
	compare nginx "$PID" 1
fi
