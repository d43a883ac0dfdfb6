# leaks_prefork.sh - a pre-forking server (examples/prefork_leak.c: the
# master forks two workers that never exec; each leaks a session record
# per request): each worker starts its own nprof, its leak is named first
# through its own socket and through ?pid= on the master's TCP port, the
# master (which only waits) has no suspect, and no socket file is left
# when they exit (the workers die by a signal: the master removes their
# sockets).
source "$(dirname "$0")/../lib.sh"
# The system interpreter: a version manager's shim can take seconds to
# start on a loaded machine, which the time limits would count.
PY=$(command -v /usr/bin/python3 || command -v python3)

hport=$(free_port)
start_under_nprof "$T/pf.out" --http "127.0.0.1:$hport" -- "$BUILD/examples/prefork_leak" 2 600
master=$PID
two() { [ "$(grep -c '^worker' "$T/pf.out")" = 2 ]; }
await 10 two || fail "no two workers: $(cat "$T/pf.out")"
read -r -a workers <<<"$(awk '/^worker/{print $2}' "$T/pf.out" | tr '\n' ' ')"
PIDS+=("${workers[@]}")
for w in "${workers[@]}"; do
	await 20 test -S "$(sock_of "$w")" || fail "worker $w has no socket"
done
ok "workers ${workers[*]} have their own sockets"

named() {
	ucurl "$1" "/debug/pprof/leaks?format=json" -o "$T/w.json" &&
		"$PY" "$ROOT/tests/integration/leaks_check.py" "$T/w.json" \
			"$ROOT/examples/prefork_leak.c" >"$T/verdict.txt"
}
for w in "${workers[@]}"; do
	await 20 named "$w" || fail "worker $w: leak not named: $(cat "$T/verdict.txt"; ucurl "$w" /debug/pprof/leaks)"
	ok "worker $w: $(cat "$T/verdict.txt")"
	# The same answer through the master's port (awaited too: a worker
	# starved by a loaded machine may dip under the threshold a moment).
	via_pid() {
		curl -sf "http://127.0.0.1:$hport/debug/pprof/leaks?format=json&pid=$1" -o "$T/p.json" &&
			"$PY" "$ROOT/tests/integration/leaks_check.py" "$T/p.json" \
				"$ROOT/examples/prefork_leak.c" >/dev/null
	}
	await 20 via_pid "$w" || fail "leaks of $w via pid=: $(cat "$T/p.json")"
	for p in heap "profile?seconds=1" goroutine; do
		case $p in *\?*) sep='&' ;; *) sep='?' ;; esac
		curl -sf "http://127.0.0.1:$hport/debug/pprof/$p${sep}pid=$w" -o "$T/prof.pb.gz" ||
			fail "$p of $w via pid="
		pprof -raw "$T/prof.pb.gz" >/dev/null || fail "$p of $w via pid= unreadable: $(cat "$T/pprof.err")"
	done
	pprof -top "$T/prof.pb.gz" >/dev/null
done
ok "each worker's leak named, its heap, cpu and threads through ?pid= on the master's port"
ucurl "$master" "/debug/pprof/leaks?format=json" -o "$T/m.json" || fail "master's leaks"
"$PY" "$ROOT/tests/preload/leaks_quiet.py" "$T/m.json" >"$T/mq.txt" || fail "master has suspects: $(cat "$T/mq.txt")"
ok "the master, which only waits, has no suspect"

# The workers die by a signal (no exit handler runs); the master, done
# waiting, returns from main.
kill -TERM "${workers[@]}" 2>/dev/null
await 20 bash -c "! kill -0 $master 2>/dev/null" || fail "master did not exit"
await 10 bash -c "[ -z \"\$(ls -A '$XDG_RUNTIME_DIR/nprof')\" ]" ||
	fail "socket files left behind: $(ls "$XDG_RUNTIME_DIR/nprof")"
ok "no socket file left"
