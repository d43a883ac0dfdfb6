# spawn_exec.sh - vfork, posix_spawn with file actions and exec from a
# preloaded program: the children run as without nprof, the parent keeps
# serving, and no nprof descriptor leaks into an exec'd image.
source "$(dirname "$0")/../lib.sh"

mkfifo "$T/in"
exec 3<>"$T/in"
port=$(free_port)
# Started with nothing open beyond stdin/out/err, so that any other
# descriptor an exec'd image sees can only come from nprof.
(
	exec 0<&3 1>"$T/out" 2>&1
	for fd in $(ls /proc/$BASHPID/fd); do
		[ "$fd" -gt 2 ] && eval "exec $fd>&-"
	done
	exec "$NPROF" run --http "127.0.0.1:$port" -- "$BUILD/tests/programs/spawner"
) &
PID=$!
PIDS+=("$PID")
await 20 grep -q '^spawner done' "$T/out" || fail "spawner did not finish: $(cat "$T/out")"
grep -q '^vfork exit 0$' "$T/out" || fail "vfork child: $(cat "$T/out")"
grep -q '^posix_spawn exit 7$' "$T/out" || fail "posix_spawn child: $(cat "$T/out")"
grep -q '^exec exit 0$' "$T/out" || fail "exec child: $(cat "$T/out")"
# ls of its own /proc/self/fd: 0 1 2 and the directory it is reading.
fds=$(awk '/^[0-9]+$/' "$T/out" | tr '\n' ' ')
[ "$fds" = "0 1 2 3 " ] || fail "descriptors leaked into the exec'd image: $fds"
ok "vfork, posix_spawn, exec: children normal, exec'd image saw only fds $fds"
await 10 test -S "$(sock_of $PID)" || fail "socket gone"
[ "$(http_status "http://127.0.0.1:$port/debug/pprof/")" = 200 ] || fail "parent stopped serving over TCP"
ucurl "$PID" "/debug/pprof/goroutine?debug=1" | grep -q '^goroutine profile: total' || fail "parent's thread profile"
ok "parent still serves"
