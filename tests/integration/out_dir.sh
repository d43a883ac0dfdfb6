# out_dir.sh - NPROF_OUT (nprof run --out DIR): at exit the process
# writes its heap, threads, fd and leaks reports, each profile readable by
# go tool pprof with its text beside; a forked child writes nothing.
source "$(dirname "$0")/../lib.sh"

"$NPROF" run --out "$T/out" -- "$BUILD/examples/busy" 1 >"$T/busy.out" 2>&1 || fail "busy failed"
pid=$(awk '/^busy: pid/ {print $3; exit}' "$T/busy.out" | tr -d ,)
[ -n "$pid" ] || fail "no pid: $(cat "$T/busy.out")"
for name in heap threads fd; do
	[ -s "$T/out/$name.$pid.pb.gz" ] || fail "$name.$pid.pb.gz missing: $(ls "$T/out")"
	pprof -raw "$T/out/$name.$pid.pb.gz" >/dev/null || fail "$name profile unreadable: $(cat "$T/pprof.err")"
	[ -s "$T/out/$name.$pid.txt" ] || fail "$name.$pid.txt missing"
done
[ -s "$T/out/leaks.$pid.txt" ] || fail "leaks.$pid.txt missing"
grep -q '^heap profile: ' "$T/out/heap.$pid.txt" || fail "heap text"
grep -q '^thread [0-9]* "busy"' "$T/out/threads.$pid.txt" || fail "threads text: $(head -3 "$T/out/threads.$pid.txt")"
[ "$(grep -c '^created by main' "$T/out/threads.$pid.txt")" = 4 ] || fail "threads text lacks the four workers' creator"
ok "reports written at exit: $(ls "$T/out" | tr '\n' ' ')"

mkdir "$T/out2"
printf 'fork\nexec\n' | NPROF_SOCKET=off "$NPROF" run --out "$T/out2" -- "$BUILD/tests/programs/forker" >"$T/fork.out" 2>&1 ||
	fail "forker failed: $(cat "$T/fork.out")"
parent=$(awk '/^forker: pid/ {print $3; exit}' "$T/fork.out")
[ "$(grep -c 'child exit 0' "$T/fork.out")" = 2 ] || fail "children: $(cat "$T/fork.out")"
# The exec'd child (echo) is a new program that starts nprof of its own and
# may write its own reports; the forked child that did not exec must write
# none. So every writer other than the parent must be echo.
for p in $(ls "$T/out2" | cut -d. -f2 | sort -u); do
	[ "$p" = "$parent" ] && continue
	grep -q '^thread [0-9]* "echo"' "$T/out2/threads.$p.txt" ||
		fail "pid $p, not the exec'd echo, wrote reports: $(head -1 "$T/out2/threads.$p.txt")"
done
grep -q "child-ran" "$T/fork.out" || fail "exec'd child did not run"
[ -s "$T/out2/heap.$parent.pb.gz" ] || fail "parent's report missing"
nfiles=$(ls "$T/out2" | grep -c "\.$parent\.")
[ "$nfiles" = 7 ] || fail "parent wrote $nfiles files: $(ls "$T/out2")"
ok "forked child wrote nothing of its own; parent's 7 reports present"
