# prefork_nginx.sh - real nginx, master + 2 workers (forked, never exec'd),
# under nprof with a TCP listener and under wrk: each worker starts its own
# nprof (its own socket), its CPU, heap, threads and leaks are reachable
# through its socket and through ?pid= on the master's TCP port, another
# PID gets a one-line 404, `nprof ps` shows the tree with each worker
# reachable through the master's address, the quiet server ranks no
# suspect at confidence >= 0.5, and no socket file is left after it stops.
# With NPROF_FOLLOW_FORK=0 the workers stay dormant.
source "$(dirname "$0")/../lib.sh"
# The system interpreter: a version manager's shim can take seconds to
# start on a loaded machine, which the time limits would count.
PY=$(command -v /usr/bin/python3 || command -v python3)

command -v nginx >/dev/null && command -v wrk >/dev/null ||
	fail "nginx/wrk missing (scripts/deps.sh test installs them)"
port=$(free_port)
hport=$(free_port)
mkdir -p "$T/ng/logs" "$T/ng/html"
echo "hello from nginx" >"$T/ng/html/index.html"
# As root, nginx's workers would switch to nobody, who may not read the
# test's private directory; keep them as the test's user.
user_line=
[ "$(id -u)" = 0 ] && user_line="user root;"
cat >"$T/ng/nginx.conf" <<EOF
$user_line
daemon off;
master_process on;
worker_processes 2;
pid $T/ng/nginx.pid;
error_log $T/ng/logs/error.log warn;
events { worker_connections 256; }
http {
	access_log off;
	client_body_temp_path $T/ng/tmp_body;
	proxy_temp_path $T/ng/tmp_proxy;
	fastcgi_temp_path $T/ng/tmp_fcgi;
	uwsgi_temp_path $T/ng/tmp_uwsgi;
	scgi_temp_path $T/ng/tmp_scgi;
	server {
		listen 127.0.0.1:$port;
		root $T/ng/html;
	}
}
EOF

# start_nginx [env...]: nginx under nprof; sets PID (the master).
start_nginx() {
	env "$@" "$NPROF" run --http "127.0.0.1:$hport" -- nginx -p "$T/ng" -c "$T/ng/nginx.conf" \
		>"$T/nginx.out" 2>&1 &
	PID=$!
	PIDS+=("$PID")
	await 20 test -S "$(sock_of $PID)" || fail "no nprof socket in nginx: $(cat "$T/nginx.out")"
	await 20 curl -sf "http://127.0.0.1:$port/" || fail "nginx does not answer: $(cat "$T/nginx.out")"
}
workers_of() { pgrep -P "$1" | sort -n; }
two_workers() { [ "$(workers_of "$PID" | wc -l)" = 2 ]; }

start_nginx
master=$PID
await 20 two_workers || fail "nginx has no 2 workers: $(pgrep -a -P "$master")"
read -r -a workers <<<"$(workers_of "$master" | tr '\n' ' ')"
PIDS+=("${workers[@]}") # killed too if the test fails

# Load: the workers allocate, which is where each notices its grace
# period is over and starts its own nprof.
wrk -t2 -c20 -d10s "http://127.0.0.1:$port/" >"$T/wrk1.txt" 2>&1 &
wrkpid=$!
for w in "${workers[@]}"; do
	await 20 test -S "$(sock_of "$w")" || fail "worker $w has no socket: $(ls "$XDG_RUNTIME_DIR/nprof")"
done
ok "workers ${workers[*]} serve on their own sockets"

for w in "${workers[@]}"; do
	ucurl "$w" "/debug/pprof/profile?seconds=1" -o "$T/cpu.$w.pb.gz" || fail "cpu of $w"
	pprof -top "$T/cpu.$w.pb.gz" >"$T/cpu.$w.txt" || fail "cpu of $w unreadable: $(cat "$T/pprof.err")"
	grep -q '^File: nginx' "$T/cpu.$w.txt" || fail "cpu of $w: $(head -3 "$T/cpu.$w.txt")"
	# The same through the master's TCP port.
	for p in "profile?seconds=1" heap goroutine fd; do
		case $p in *\?*) sep='&' ;; *) sep='?' ;; esac
		curl -sf "http://127.0.0.1:$hport/debug/pprof/$p${sep}pid=$w" -o "$T/tcp.pb.gz" ||
			fail "$p of $w through the master's port"
		pprof -raw "$T/tcp.pb.gz" >/dev/null || fail "$p of $w via pid= unreadable: $(cat "$T/pprof.err")"
	done
	curl -sf "http://127.0.0.1:$hport/debug/pprof/goroutine?debug=1&pid=$w" | grep -q '^goroutine profile: total [1-9]' ||
		fail "threads of $w via pid="
	curl -sf "http://127.0.0.1:$hport/debug/pprof/leaks?format=json&pid=$w" | "$PY" -m json.tool >/dev/null ||
		fail "leaks of $w via pid="
done
wait $wrkpid
grep -q 'Requests/sec' "$T/wrk1.txt" || fail "wrk: $(cat "$T/wrk1.txt")"
ok "each worker's cpu, heap, threads, fds and leaks through its socket and through ?pid= on the master's port"

code=$(http_status "http://127.0.0.1:$hport/debug/pprof/heap?pid=1")
body=$(curl -s "http://127.0.0.1:$hport/debug/pprof/heap?pid=1")
[ "$code" = 404 ] && [ "$(echo "$body" | wc -l)" = 1 ] || fail "pid=1: $code $body"
ok "pid of a process that is not a descendant: 404, one line"

"$NPROF" ps >"$T/ps.txt" || fail "nprof ps"
for w in "${workers[@]}"; do
	grep -Eq "^ *$w +$master +nginx.*\?pid=$w" "$T/ps.txt" || { cat "$T/ps.txt"; fail "ps: worker $w"; }
done
grep -Eq "^ *$master +[0-9]+ +nginx .*http://127.0.0.1:$hport\$" "$T/ps.txt" ||
	{ cat "$T/ps.txt"; fail "ps: master's address (nginx rewrites its title)"; }
ok "nprof ps: master with its address, workers under it: $(tr -s ' ' <"$T/ps.txt" | tail -2 | tr '\n' ';')"

# Quiet: steady load on static files grows nothing.
wrk -t2 -c20 -d30s "http://127.0.0.1:$port/" >"$T/wrk2.txt" 2>&1
for p in "$master" "${workers[@]}"; do
	ucurl "$p" "/debug/pprof/leaks?format=json" -o "$T/leaks.$p.json" || fail "leaks of $p"
	"$PY" "$ROOT/tests/preload/leaks_quiet.py" "$T/leaks.$p.json" >"$T/quiet.$p.txt" ||
		fail "suspects on quiet nginx ($p): $(cat "$T/quiet.$p.txt")"
	cat "$T/quiet.$p.txt"
done
ok "quiet nginx under wrk: no suspect at confidence >= 0.5 in master or workers"

kill -QUIT "$master"
await 20 bash -c "! kill -0 $master 2>/dev/null" || fail "nginx did not stop"
await 10 bash -c "[ -z \"\$(ls -A '$XDG_RUNTIME_DIR/nprof')\" ]" ||
	fail "socket files left behind: $(ls "$XDG_RUNTIME_DIR/nprof")"
ok "no socket file left after nginx stops"

start_nginx NPROF_FOLLOW_FORK=0
await 20 two_workers || fail "nginx has no 2 workers"
PIDS+=($(workers_of "$PID"))
wrk -t2 -c20 -d3s "http://127.0.0.1:$port/" >/dev/null 2>&1
for w in $(workers_of "$PID"); do
	[ ! -e "$(sock_of "$w")" ] || fail "NPROF_FOLLOW_FORK=0: worker $w has a socket"
done
[ "$(http_status "http://127.0.0.1:$hport/debug/pprof/heap?pid=$(workers_of "$PID" | head -1)")" = 404 ] ||
	fail "NPROF_FOLLOW_FORK=0: pid= should be 404"
kill -QUIT "$PID"
await 20 bash -c "! kill -0 $PID 2>/dev/null" || fail "nginx did not stop"
ok "NPROF_FOLLOW_FORK=0: workers stay dormant"
