# metrics_prometheus.sh - a real Prometheus server (Debian prometheus)
# scrapes a service under nprof over TCP every second and answers a query
# for nprof_threads with the service's thread count. The server runs on
# loopback with its own ports and a temporary storage directory, and is
# stopped whatever happens: the EXIT trap kills it, and a watchdog kills
# it anyway should this script itself be killed.
source "$(dirname "$0")/../lib.sh"

command -v prometheus >/dev/null || fail "prometheus missing (scripts/deps.sh test installs it)"

port=$(free_port)
start_under_nprof "$T/svc.out" --http "127.0.0.1:$port" -- "$BUILD/examples/timer_leak"
svc=$PID
await 10 curl -sf "http://127.0.0.1:$port/metrics" -o /dev/null || fail "no /metrics on :$port"

pport=$(free_port)
mkdir -p "$T/tsdb"
cat >"$T/prometheus.yml" <<YML
global:
  scrape_interval: 1s
  scrape_timeout: 1s
  evaluation_interval: 1s
scrape_configs:
  - job_name: nprof
    static_configs:
      - targets: ['127.0.0.1:$port']
YML
prometheus --config.file="$T/prometheus.yml" --storage.tsdb.path="$T/tsdb" \
	--web.listen-address="127.0.0.1:$pport" --log.level=warn >"$T/prom.log" 2>&1 &
prom=$!
PIDS+=("$prom")
# The watchdog outlives this script even when it is SIGKILLed (no EXIT
# trap then): it kills Prometheus as soon as the script is gone, or after
# 150 s whatever happens, checking first that the pid is still
# Prometheus's (pids are reused).
script=$$
(
	for _ in $(seq 150); do
		kill -0 "$script" 2>/dev/null || break
		sleep 1
	done
	[ "$(cat /proc/"$prom"/comm 2>/dev/null)" = prometheus ] && kill -9 "$prom"
) >/dev/null 2>&1 &
# Out of the job table, or lib.sh's cleanup would `wait` for it.
disown $!

await 30 curl -sf "http://127.0.0.1:$pport/-/ready" || { cat "$T/prom.log"; fail "prometheus not ready"; }
ok "prometheus up on 127.0.0.1:$pport, scraping 127.0.0.1:$port"

# query EXPR: the single value of an instant query, or nothing.
query() {
	curl -sf -G "http://127.0.0.1:$pport/api/v1/query" --data-urlencode "query=$1" |
		python3 -c '
import json, sys
r = json.load(sys.stdin)
res = r["data"]["result"] if r.get("status") == "success" else []
print(res[0]["value"][1] if len(res) == 1 else "")'
}

program_threads() {
	local n=0 c
	for t in /proc/"$svc"/task/*; do
		c=$(cat "$t/comm" 2>/dev/null) || continue
		case "$c" in nprof | MHD-*) ;; *) n=$((n + 1)) ;; esac
	done
	echo "$n"
}
threads_answered() {
	got=$(query 'nprof_threads{job="nprof"}')
	[ -n "$got" ] && [ "$got" = "$(program_threads)" ]
}
got=""
await 60 threads_answered || {
	tail -n 20 "$T/prom.log"
	curl -s "http://127.0.0.1:$pport/api/v1/targets" | head -c 2000
	fail "prometheus answered nprof_threads='$got', want $(program_threads)"
}
ok "prometheus: nprof_threads = $got, the service's thread count"

[ "$(query 'up{job="nprof"}')" = 1 ] || fail "target not up"
[ "$(query 'count(nprof_fds{job="nprof"})')" = 11 ] || fail "nprof_fds kinds: $(query 'count(nprof_fds)')"
ok "target up, every fd kind stored"

kill "$prom"
await 20 sh -c "! kill -0 $prom 2>/dev/null" || fail "prometheus did not stop on SIGTERM"
ok "prometheus stopped"
