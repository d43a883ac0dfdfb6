# fd_close_range.sh - docs/safety.md, *Descriptors*: a program that closes every
# descriptor (close_range(3, ~0U), then a close() loop) is unharmed, and
# nprof keeps serving on both its unix socket and its TCP listener,
# saying on stderr what it kept. The profile afterwards lists exactly
# what the program holds.
source "$(dirname "$0")/../lib.sh"

port=$(free_port)
start_under_nprof "$T/cr.out" --http ":$port" -- "$BUILD/tests/programs/fd_close_range"
await 20 grep -q '^ready 0' "$T/cr.out" || fail "program never ready: $(cat "$T/cr.out")"
ucurl "$PID" "/debug/pprof/fd?debug=1" -o "$T/before.txt" || fail "fd before"
grep -q 'by socket' "$T/before.txt" || fail "the program's socket is not in the profile: $(cat "$T/before.txt")"

kill -USR1 "$PID"
await 20 grep -q '^ready 1' "$T/cr.out" || { cat "$T/cr.out"; fail "program did not survive closing everything"; }
read -r _ _ p0 p1 loop_closed < <(grep '^ready 1' "$T/cr.out")
# The new pipe takes the lowest number nprof does not hold: everything
# below it was nprof's (no request ran between the two moments, so
# nprof's set then is within the one listed before).
own=" $(sed -n "s/^# nprof's own descriptors, not counted: *//p" "$T/before.txt") "
for ((fd = 3; fd < p0; fd++)); do
	[[ $own == *" $fd "* ]] || fail "after close_range the new descriptor is $p0 though $fd was free (nprof's own:$own)"
done
[ "$loop_closed" -eq 0 ] || fail "the close loop closed $loop_closed descriptors close_range had left"
grep -q "close_range(3, 4294967295) by the program: closed everything but nprof's own" "$T/cr.out" ||
	fail "nprof did not say what it kept: $(cat "$T/cr.out")"
ok "program unharmed: close_range closed its descriptors, the loop found none, new ones start at 3"

# Both listeners still answer.
ucurl "$PID" "/debug/pprof/fd?debug=1" -o "$T/after.txt" || fail "unix socket gone after close_range"
curl -sS --max-time 30 "http://127.0.0.1:$port/debug/pprof/fd?debug=1" -o "$T/after_tcp.txt" ||
	fail "TCP listener gone after close_range"
pprof -raw "http://127.0.0.1:$port/debug/pprof/fd" >"$T/raw.txt" || fail "go tool pprof after close_range: $(cat "$T/pprof.err")"
# What the program holds now: stdio (unknown origin) and its new pipe.
fds=$(awk '/^#\tfd / {print $3}' "$T/after.txt" | sort -n | tr '\n' ' ')
[ "$fds" = "0 1 2 $p0 $p1 " ] || { cat "$T/after.txt"; fail "profile after close_range lists '$fds', want '0 1 2 $p0 $p1 '"; }
grep -q 'by pipe' "$T/after.txt" || fail "the new pipe is not recorded"
ok "nprof serves on unix and TCP after close_range; profile lists 0 1 2 $p0 $p1"
kill -USR1 "$PID"
wait "$PID" || fail "program exited $?"
