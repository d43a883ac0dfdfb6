# contention_block.sh - the block profile: two threads ping-pong on a
# condition variable; the delay the profile shows at the wait site is
# within 20% of what the program measured around its own waits, its
# debug=1 text is Go's "--- contention:" form, and `go tool pprof` reads
# both forms. With the block rate off (the default) nothing is recorded.
source "$(dirname "$0")/../lib.sh"

prog=$BUILD/tests/programs/contention_block
src=$ROOT/tests/programs/contention_block.c
line=$(grep -n 'WAIT SITE' "$src" | cut -d: -f1)

NPROF_BLOCK_RATE=1 start_under_nprof "$T/out" -- "$prog"
await 30 grep -q '^ready' "$T/out" || fail "not ready: $(cat "$T/out")"
measured=$(awk '/^measured_ns/ {print $2}' "$T/out")

ucurl "$PID" /debug/pprof/block -o "$T/block.pb" || fail "fetch block"
pprof -top -lines -sample_index=delay -unit=ns "$T/block.pb" >"$T/top" ||
	fail "pprof cannot read the block profile: $(cat "$T/pprof.err")"
got=$(awk -v at="contention_block.c:$line" '$0 ~ at {sub(/ns$/, "", $1); print $1; exit}' "$T/top")
[ -n "$got" ] || { cat "$T/top"; fail "no delay at contention_block.c:$line"; }
python3 -c "import sys; g, m = $got, $measured; sys.exit(0 if abs(g - m) <= 0.2 * m else 1)" ||
	fail "delay at the wait site $got ns, the program measured $measured ns"
ok "delay at the wait site: $got ns, measured $measured ns"

pprof -top -sample_index=contentions "$T/block.pb" >/dev/null || fail "contentions: $(cat "$T/pprof.err")"
ucurl "$PID" "/debug/pprof/block?debug=1" -o "$T/block.txt" || fail "fetch debug=1"
head -2 "$T/block.txt" | tr '\n' '|' | grep -qx -- '--- contention:|cycles/second=1000000000|' ||
	fail "debug=1 header: $(head -2 "$T/block.txt")"
sed -n 3p "$T/block.txt" | grep -Eq '^[0-9]+ [0-9]+ @( 0x[0-9a-f]+)+$' ||
	fail "debug=1 record: $(sed -n 3p "$T/block.txt")"
grep -q "ping_wait+0x[0-9a-f]*	.*contention_block.c:$line\$" "$T/block.txt" ||
	fail "debug=1 does not name the wait site"
pprof -top "$T/block.txt" >/dev/null || fail "pprof cannot read debug=1: $(cat "$T/pprof.err")"
ok "debug=1 is Go's contention text and pprof reads it"

# seconds=N: nothing waits any more, so the delta is empty.
ucurl "$PID" "/debug/pprof/block?seconds=1" -o "$T/delta.pb" || fail "delta"
pprof -top -sample_index=delay "$T/delta.pb" >"$T/dtop" || fail "delta: $(cat "$T/pprof.err")"
grep -q "contention_block.c:$line" "$T/dtop" && fail "the delta repeats old waits"
ok "seconds=N is a delta"

# Rate off: no samples.
start_under_nprof "$T/out0" -- "$prog"
await 30 grep -q '^ready' "$T/out0" || fail "not ready (rate off)"
ucurl "$PID" "/debug/pprof/block?debug=1" -o "$T/off.txt" || fail "fetch (rate off)"
grep -q ' @ ' "$T/off.txt" && fail "samples recorded with the rate off: $(head -5 "$T/off.txt")"
ok "rate off: no samples"
