# contention_linked.sh - a program linked with -lnprof sets the block and
# mutex rates through the C API: with both off (the default) its
# contended workload leaves both profiles empty; once
# nprof_set_block_rate(1) and nprof_set_mutex_fraction(1) are called, the
# same workload shows its wait site and its unlock site, and `go tool
# pprof` reads both profiles.
source "$(dirname "$0")/../lib.sh"

"$BUILD/tests/programs/linked_contention" "$T" >"$T/out" 2>&1 || fail "$(cat "$T/out")"
grep -qx done "$T/out" || fail "$(cat "$T/out")"
ok "setters return the previous value"

for p in block mutex; do
	grep -q ' @ ' "$T/off.$p.txt" && fail "$p: samples recorded with the rate off: $(head -5 "$T/off.$p.txt")"
done
ok "rates off: no samples"

grep -q '^#	0x[0-9a-f]*	pong_wait+' "$T/on.block.txt" || fail "block: no pong_wait: $(head -20 "$T/on.block.txt")"
grep -q '^#	0x[0-9a-f]*	lock_holder+' "$T/on.mutex.txt" || fail "mutex: no lock_holder: $(head -20 "$T/on.mutex.txt")"
for p in block mutex; do
	pprof -top -sample_index=delay "$T/on.$p.pb" >"$T/$p.top" || fail "$p: $(cat "$T/pprof.err")"
done
grep -q pong_wait "$T/block.top" || fail "block proto: $(cat "$T/block.top")"
grep -q lock_holder "$T/mutex.top" || fail "mutex proto: $(cat "$T/mutex.top")"
ok "rates on at run time: wait and unlock sites recorded, pprof reads both"
