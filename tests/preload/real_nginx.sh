# real_nginx.sh - a program nprof did not write: nginx as a master with two
# workers forked without exec (daemon off, master_process on), serving a
# static file to wrk, side by side with and without nprof preloaded. The
# master under nprof serves every profile; the workers (where nprof is
# inherited through fork) serve every request, none is replaced; both
# nginx log the same lines and exit 0 on `nginx -s quit`.
source "$(dirname "$0")/../lib.sh"
source "$ROOT/tests/real_lib.sh"

NGINX=$(command -v nginx || echo /usr/sbin/nginx)
[ -x "$NGINX" ] && command -v wrk >/dev/null ||
	fail "nginx/wrk missing (scripts/deps.sh test installs nginx-light wrk)"

# workers PID: the PIDs of the master's children.
workers() {
	echo $(cat /proc/"$1"/task/"$1"/children)
}

# start NAME [env...]: nginx from a config of its own in $T/NAME, on a
# free loopback port; sets PID_NAME, PORT_NAME, WORKERS_NAME.
start() {
	local name=$1 port pid dir=$T/$1 tmp
	shift
	port=$(free_port)
	mkdir -p "$dir/www"
	head -c 4096 /dev/urandom | base64 >"$dir/www/index.html"
	# Running as root, nginx would switch workers to nobody, who cannot
	# enter the private test directory: keep root.
	cat >"$dir/nginx.conf" <<-CONF
		daemon off;
		master_process on;
		worker_processes 2;
		user root;
		pid $dir/nginx.pid;
		error_log $dir/error.log notice;
		events { worker_connections 256; }
		http {
		    access_log off;
		    $(for tmp in client_body proxy fastcgi scgi uwsgi; do echo "${tmp}_temp_path $dir/$tmp;"; done)
		    server {
		        listen 127.0.0.1:$port;
		        root $dir/www;
		    }
		}
	CONF
	env "$@" "$NGINX" -p "$dir" -c "$dir/nginx.conf" -e "$dir/error.log" >"$dir/stdout" 2>&1 &
	pid=$!
	PIDS+=("$pid")
	await 20 curl -sf -o /dev/null "http://127.0.0.1:$port/" ||
		fail "$name: nginx does not answer: $(cat "$dir/stdout" "$dir/error.log")"
	await 10 bash -c "[ \$(wc -w </proc/$pid/task/$pid/children) = 2 ]" ||
		fail "$name: nginx has no two workers: $(cat /proc/$pid/task/$pid/children)"
	eval "PID_$name=$pid PORT_$name=$port WORKERS_$name='$(workers $pid)'"
	# Workers outlive a master killed by cleanup: they are killed too.
	PIDS+=($(workers $pid))
}

# load NAME: one wrk round (2 threads, 16 connections, 2 s); prints
# requests per second. A non-2xx answer or a socket error fails.
load() {
	local out=$T/$1.wrk
	wrk -t2 -c16 -d2s "http://127.0.0.1:$(eval echo "\$PORT_$1")/" >"$out" 2>&1 ||
		fail "$1: wrk failed: $(cat "$out")"
	grep -Eq 'Non-2xx|Socket errors' "$out" && fail "$1: wrk saw errors: $(cat "$out")"
	awk '$1 == "Requests/sec:" && $2 > 0 { printf "%d\n", $2; f = 1 } END { exit !f }' "$out" ||
		fail "$1: wrk output: $(cat "$out")"
}

start base
start nprof "${NPROF_ENV[@]}"
await 20 test -S "$(sock_of "$PID_nprof")" || fail "no nprof socket in the nginx master"
declare -A R
for round in 1 2 3 4 5; do
	for name in base nprof; do
		[ $round$name = 3nprof ] && cpu_profile_start "$PID_nprof" 2
		v=$(load $name) || exit 1 # (fail in $(...) only ends the subshell)
		R[$name]+="$v "
	done
done
# The master only supervises: its CPU profile may be empty, but it parses.
cpu_profile_check nginx
every_profile "$PID_nprof"
for name in base nprof; do
	pid=$(eval echo "\$PID_$name")
	now=$(workers "$pid")
	[ "$now" = "$(eval echo "\$WORKERS_$name")" ] ||
		fail "$name: workers replaced: $(eval echo "\$WORKERS_$name") -> $now"
done

for name in base nprof; do
	"$NGINX" -p "$T/$name" -c "$T/$name/nginx.conf" -e "$T/$name/error.log" -s quit ||
		fail "$name: nginx -s quit"
done
wait "$PID_base"
base_status=$?
wait "$PID_nprof"
status=$?
[ "$status" = "$base_status" ] || fail "exit status $status under nprof, $base_status without"
for name in base nprof; do
	cat "$T/$name/stdout" >>"$T/$name/error.log"
	sed -i "s|$T/$name|DIR|g" "$T/$name/error.log"
	grep -E '\[(alert|crit|emerg|error)\]' "$T/$name/error.log" && fail "$name: nginx errors"
done
# How many SIGCHLD and SIGIO the master sees depends on when its workers
# exit (signals coalesce).
same_log nginx "$T/base/error.log" "$T/nprof/error.log" 'signal (17|29) \('

# shellcheck disable=SC2086
with=$(median ${R[nprof]}) without=$(median ${R[base]})
not_collapsed nginx "$with" "$without"
ok "nginx: nprof's own descriptors $OWN_FDS; $with requests/s vs $without/s without ($(ratio "$with" "$without")x), medians of 5 wrk" \
	"rounds, no errors, workers kept; exit $status both; master CPU profile $CPU_TOTAL;" \
	"$PARSED profiles parsed; log unchanged ($(wc -l <"$T/nprof/error.log") lines)"
