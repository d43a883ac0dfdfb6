# quiet_redis.sh - redis-server under nprof at its default settings, with
# a steady load that does not grow its data set (redis-benchmark over 2000
# keys), for 60 s after a warm-up: /debug/pprof/leaks ranks no suspect at
# confidence >= 0.5, `nprof leaks PID` says the same, and `nprof ps` finds
# the TCP address by asking redis (which rewrites its process title). A
# BGSAVE child (forked, short-lived) saves and leaves no socket file.
source "$(dirname "$0")/../lib.sh"
# The system interpreter: a version manager's shim can take seconds to
# start on a loaded machine, which the time limits would count.
PY=$(command -v /usr/bin/python3 || command -v python3)

command -v redis-server >/dev/null && command -v redis-benchmark >/dev/null ||
	fail "redis-server/redis-benchmark missing (scripts/deps.sh test installs them)"
rport=$(free_port)
hport=$(free_port)
"$NPROF" run --http "127.0.0.1:$hport" -- redis-server --port "$rport" --bind 127.0.0.1 \
	--save '' --appendonly no --dir "$T" >"$T/redis.out" 2>&1 &
PID=$!
PIDS+=("$PID")
await 20 test -S "$(sock_of $PID)" || fail "no nprof socket in redis: $(cat "$T/redis.out")"
pong() { [ "$(redis-cli -p "$rport" ping 2>/dev/null)" = PONG ]; }
await 20 pong || fail "redis does not answer: $(cat "$T/redis.out")"

"$NPROF" ps >"$T/ps.txt" || fail "nprof ps"
grep -Eq "^ *$PID +[0-9]+ +redis-server .*http://127.0.0.1:$hport\$" "$T/ps.txt" ||
	{ cat "$T/ps.txt"; fail "nprof ps: no HTTP address for redis"; }
ok "nprof ps asks redis for its address: $(grep -E "^ *$PID " "$T/ps.txt" | tr -s ' ')"

# Warm-up: the 2000 keys exist, then 60 s of the same load.
load() {
	redis-benchmark -p "$rport" -q -r 2000 -n "$1" -c 10 -t set,get,incr,lpush,lpop,hset 2>&1 |
		tr '\r' '\n' >"$T/bench.txt" || fail "redis-benchmark: $(cat "$T/bench.txt")"
}
load 20000
end=$((SECONDS + 60))
while [ $SECONDS -lt $end ]; do
	load 20000
done
grep -Eq '^ *SET: [0-9.]+ requests per second' "$T/bench.txt" || fail "benchmark output: $(cat "$T/bench.txt")"
ucurl "$PID" "/debug/pprof/leaks?format=json" -o "$T/leaks.json" || fail "leaks request"
"$PY" "$ROOT/tests/preload/leaks_quiet.py" "$T/leaks.json" >"$T/quiet.txt" ||
	fail "suspects on quiet redis: $(cat "$T/quiet.txt"; ucurl "$PID" /debug/pprof/leaks)"
cat "$T/quiet.txt"
"$NPROF" leaks "$PID" >"$T/leaks.txt" || fail "nprof leaks"
# Only suspects at confidence >= 0.5 are listed: the table must be empty.
grep -q '^# nprof leak suspects: 0 ' "$T/leaks.txt" || fail "nprof leaks: $(cat "$T/leaks.txt")"
ok "quiet redis, 60 s of steady load after warm-up: no suspect at confidence >= 0.5 ($(head -1 "$T/leaks.txt"))"
# A BGSAVE child (fork, no exec, a few seconds at most, leaves by _exit)
# saves as without nprof, and leaves no socket file behind.
redis-cli -p "$rport" debug populate 200000 >/dev/null
redis-cli -p "$rport" bgsave >/dev/null || fail "bgsave refused"
await 60 bash -c "[ \"\$(redis-cli -p $rport info persistence | tr -d '\r' | sed -n 's/^rdb_bgsave_in_progress://p')\" = 0 ]" ||
	fail "bgsave never finished"
redis-cli -p "$rport" info persistence | tr -d '\r' | grep -q '^rdb_last_bgsave_status:ok' ||
	fail "bgsave failed: $(redis-cli -p "$rport" info persistence)"
[ -s "$T/dump.rdb" ] || fail "no dump.rdb"
await 10 bash -c "[ \"\$(ls '$XDG_RUNTIME_DIR/nprof')\" = '$PID.sock' ]" ||
	fail "socket files besides redis's own: $(ls "$XDG_RUNTIME_DIR/nprof")"
ok "BGSAVE child saved ($(stat -c %s "$T/dump.rdb") bytes), no socket file left"
redis-cli -p "$rport" shutdown nosave >/dev/null 2>&1
await 10 bash -c "! kill -0 $PID 2>/dev/null" || fail "redis did not shut down"
