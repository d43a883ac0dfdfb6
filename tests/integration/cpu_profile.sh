# cpu_profile.sh - a CPU profile of the busy example, taken through
# `nprof run`, over TCP (go tool pprof fetching the URL itself) and over the
# unix socket (curl), read by go tool pprof: the hot function is on top with
# its file:line, including the loop the compiler inlined.
source "$(dirname "$0")/../lib.sh"

port=$(free_port)
start_under_nprof "$T/busy.out" --http ":$port" -- "$BUILD/examples/busy"

# Lines of the inlined mix() loop body in the example's source.
mix_first=$(grep -n 'uint64_t mix(' "$ROOT/examples/busy.c" | cut -d: -f1)
mix_last=$((mix_first + 8))

# Over TCP: go tool pprof fetches the profile itself.
pprof -top -lines "http://127.0.0.1:$port/debug/pprof/profile?seconds=3" >"$T/tcp_lines.txt" ||
	fail "go tool pprof over TCP: $(cat "$T/pprof.err")"
cat "$T/tcp_lines.txt"
# The first row of the table (after the "flat flat% ..." header).
first=$(awk '/flat%/ {getline; print; exit}' "$T/tcp_lines.txt")
echo "$first" | grep -Eq 'mix .*busy\.c:[0-9]+|checksum_block .*busy\.c:[0-9]+' ||
	fail "top line is not the hot loop: $first"
line=$(echo "$first" | grep -Eo 'busy\.c:[0-9]+' | cut -d: -f2)
[ "$line" -ge "$mix_first" ] && [ "$line" -le "$mix_last" ] ||
	fail "hottest line busy.c:$line is not in mix() (lines $mix_first-$mix_last)"
grep -q 'mix .*busy\.c:[0-9]* (inline)' "$T/tcp_lines.txt" ||
	fail "the inlined mix() frame is missing"
ok "TCP: hottest line busy.c:$line, inside the inlined mix()"

# Over the unix socket, saved to a file and read back.
ucurl "$PID" "/debug/pprof/profile?seconds=2" -o "$T/cpu.pb.gz" -D "$T/headers" ||
	fail "curl over the unix socket"
grep -qi '^content-type: application/octet-stream' "$T/headers" || fail "content type: $(cat "$T/headers")"
grep -qi '^x-content-type-options: nosniff' "$T/headers" || fail "no nosniff header"
pprof -top "$T/cpu.pb.gz" >"$T/unix_top.txt" || fail "pprof -top: $(cat "$T/pprof.err")"
first=$(awk '/flat%/ {getline; print; exit}' "$T/unix_top.txt")
# By flat time the inlined mix() is on top; by cumulative, checksum_block.
echo "$first" | grep -Eq '(mix \(inline\)|checksum_block)$' || { cat "$T/unix_top.txt"; fail "top function: $first"; }
pprof -top -cum "$T/cpu.pb.gz" | grep -Ev 'start_thread|clone|worker' >"$T/cum.txt"
awk '/flat%/ {getline; print; exit}' "$T/cum.txt" | grep -q 'checksum_block$' ||
	{ cat "$T/cum.txt"; fail "checksum_block is not the top function by cumulative time"; }
grep -q 'Type: cpu' "$T/unix_top.txt" || fail "sample type is not cpu"
ok "unix socket: mix (inlined) and checksum_block on top"

pprof -traces "$T/cpu.pb.gz" >"$T/traces.txt" || fail "pprof -traces"
grep -q 'checksum_block' "$T/traces.txt" && grep -q 'worker' "$T/traces.txt" ||
	fail "traces lack checksum_block <- worker"
pprof -raw "$T/cpu.pb.gz" >"$T/raw.txt" || fail "pprof -raw rejects the profile"
grep -q 'PeriodType: cpu nanoseconds' "$T/raw.txt" || fail "period type"
grep -Eq '^Mappings' "$T/raw.txt" && grep -q 'busy' "$T/raw.txt" || fail "no mapping of the binary"
ok "traces and raw"

# No nprof frame (signal handler, unwinder) may appear in any stack.
if grep -Eq 'sigprof_handler|nprof__|unw_backtrace|__restore_rt' "$T/traces.txt"; then
	fail "nprof's own frames leak into the profile"
fi
ok "no nprof frames in stacks"

# An idle program's profile has no samples and is still valid.
start_under_nprof "$T/idle.out" -- "$BUILD/examples/idle"
ucurl "$PID" "/debug/pprof/profile?seconds=1" -o "$T/idle.pb.gz" || fail "idle profile"
pprof -raw "$T/idle.pb.gz" >"$T/idle_raw.txt" || fail "empty profile rejected: $(cat "$T/pprof.err")"
pprof -top "$T/idle.pb.gz" >"$T/idle_top.txt" || fail "pprof -top on the empty profile"
grep -q 'Duration: 1' "$T/idle_top.txt" || fail "idle profile duration: $(head -5 "$T/idle_top.txt")"
ok "idle program: valid zero-sample profile"
