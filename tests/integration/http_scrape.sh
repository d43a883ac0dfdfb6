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
files=()
before=$(($(date +%s%N) - 60000000000))
# fetch PID PATH KIND: fetch over the unix socket; checked all at once below.
fetch() {
	local pid=$1 path=$2 kind=$3 name f ctype
	name=$(echo "$path" | tr -c 'A-Za-z0-9\n' _)
	f="$T/$pid$name.pb.gz"
	ctype=$(curl -sS --max-time 120 --unix-socket "$(sock_of "$pid")" -o "$f" \
		-w '%{http_code} %{content_type}' "http://localhost$path")
	if [ "$ctype" != "200 application/octet-stream" ]; then
		echo "FAIL: $path: answered '$ctype': $(head -c 200 "$f")"
		fails=$((fails + 1))
		return
	fi
	files+=("$f:$kind")
}

for p in heap allocs goroutine threadcreate fd block mutex; do
	fetch $BUSY "/debug/pprof/$p" other
done
for p in heap allocs goroutine fd block mutex; do
	fetch $BUSY "/debug/pprof/$p?seconds=1" delta
done
fetch $BUSY "/debug/pprof/profile?seconds=2" cpu
for p in block mutex; do
	fetch $LOCKS "/debug/pprof/$p" other
	fetch $LOCKS "/debug/pprof/$p?seconds=1" delta
done
fetch $LOCKS "/debug/pprof/profile?seconds=1" cpu
# What Alloy's pyroscope.scrape asks for by default, over TCP as it would.
for p in "profile?seconds=2" allocs goroutine block mutex; do
	st=$(curl -s --max-time 120 -o "$T/alloy.pb.gz" -w '%{http_code}' "http://127.0.0.1:$port/debug/pprof/$p")
	[ "$st" = 200 ] || { echo "FAIL: TCP $p answered $st"; fails=$((fails + 1)); }
done
after=$(($(date +%s%N) + 60000000000))
python3 "$ROOT/tests/http/pprof_check.py" --not-before "$before" --not-after "$after" \
	"${files[@]}" || fails=$((fails + 1))
[ $fails = 0 ] || fail "profiles break a scraper rule"
ok "${#files[@]} profiles meet the scraper rules"
