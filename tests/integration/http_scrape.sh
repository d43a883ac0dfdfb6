# http_scrape.sh - scraper conformance: every profile nprof serves (each
# type, plain and with seconds= where accepted) from busy programs is
# decoded by hand and checked against what Pyroscope and Parca require
# (tests/http/pprof_check.py lists the rules): 200, application/
# octet-stream, gzipped profile.proto, wall-clock time_nanos,
# duration_nanos on CPU (and, as Go, on seconds= deltas) only, ids 1..N, string_table[0] empty, UTF-8,
# one value per sample type (at most 4), [A-Za-z0-9_] type names,
# distinct non-zero addresses, bounded labels.
source "$(dirname "$0")/../lib.sh"

port=$(free_port)
start_under_nprof "$T/busy.out" --http "127.0.0.1:$port" --heap-rate 4096 -- "$BUILD/examples/busy"
BUSY=$PID
NPROF_BLOCK_RATE=1 NPROF_MUTEX_FRACTION=1 start_under_nprof "$T/mutex.out" -- \
	"$BUILD/tests/programs/contention_mutex"
LOCKS=$PID

fails=0
# check PID PATH KIND: fetch over the unix socket and check the profile.
check() {
	local pid=$1 path=$2 kind=$3 f="$T/p.$RANDOM.pb.gz" before after ctype
	before=$(($(date +%s%N) - 700000000000))
	ctype=$(curl -sS --max-time 60 --unix-socket "$(sock_of "$pid")" -o "$f" \
		-w '%{http_code} %{content_type}' "http://localhost$path")
	after=$(($(date +%s%N) + 60000000000))
	if [ "$ctype" != "200 application/octet-stream" ]; then
		echo "FAIL: $path: answered '$ctype': $(head -c 200 "$f")"
		fails=$((fails + 1))
		return
	fi
	if ! python3 "$ROOT/tests/http/pprof_check.py" "$f" --kind "$kind" \
		--not-before "$before" --not-after "$after" >"$T/check.out"; then
		sed "s|^|FAIL: $path: |" "$T/check.out"
		fails=$((fails + 1))
	else
		echo "ok: $path $(tail -1 "$T/check.out")"
	fi
}

for p in heap allocs goroutine threads threadcreate fd block mutex; do
	check $BUSY "/debug/pprof/$p" other
done
for p in heap allocs goroutine fd block mutex; do
	check $BUSY "/debug/pprof/$p?seconds=1" delta
done
check $BUSY "/debug/pprof/profile?seconds=2" cpu
for p in block mutex; do
	check $LOCKS "/debug/pprof/$p" other
	check $LOCKS "/debug/pprof/$p?seconds=1" delta
done
check $LOCKS "/debug/pprof/profile?seconds=1" cpu
# What Alloy's pyroscope.scrape asks for by default, over TCP as it would.
for p in "profile?seconds=2" allocs goroutine block mutex; do
	st=$(curl -s -o "$T/alloy.pb.gz" -w '%{http_code}' "http://127.0.0.1:$port/debug/pprof/$p")
	[ "$st" = 200 ] || { echo "FAIL: TCP $p answered $st"; fails=$((fails + 1)); }
done
[ $fails = 0 ] || fail "$fails profiles break a scraper rule"
ok "every profile meets the scraper rules"
