# cpu_dl_stress.sh - CPU samples at 1000 Hz landing inside dlopen,
# dlclose, dl_iterate_phdr and malloc (docs/safety.md, *Signals*): the profile
# completes, and the program keeps making progress afterwards (no thread
# left stuck on a loader lock).
source "$(dirname "$0")/../lib.sh"

mkfifo "$T/in"
exec 3<>"$T/in"
"$NPROF" run --cpu-hz 1000 -- "$BUILD/tests/programs/dl_stress" <&3 >"$T/out" 2>&1 &
PID=$!
PIDS+=("$PID")
await 20 grep -q '^ready' "$T/out" || fail "not ready: $(cat "$T/out")"
await 20 test -S "$(sock_of $PID)" || fail "no socket"
ucurl "$PID" "/debug/pprof/profile?seconds=3" -o "$T/cpu.pb.gz" || fail "profile request"
pprof -top "$T/cpu.pb.gz" >"$T/top.txt" || fail "profile unreadable: $(cat "$T/pprof.err")"
grep -Eq 'dl|loader' "$T/top.txt" || fail "no samples in the loader: $(head -20 "$T/top.txt")"
rounds() { echo x >&3; sleep 0.1; tail -1 "$T/out" | awk '{print $2}'; }
a=$(rounds)
progress() { [ "$(rounds)" -gt "$a" ]; }
await 10 progress || fail "no progress after the profile (stuck at $a rounds)"
ok "1000 Hz samples inside the loader: profile complete, program progressing"
