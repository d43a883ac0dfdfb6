# leaks.sh - the part of `make demo` that shows what nprof is for: the
# five incidents of docs/incidents.md run side by side under nprof for about 20
# seconds, then each one's leak table (/debug/pprof/leaks): the top
# suspect's file:line, its growth and what its threads wait for, followed
# by the commands and URLs to dig deeper.
#
# Sourced by scripts/demo.sh, which provides start, free_port, hr, pids,
# NPROF and BUILD. At nprof's default settings (a snapshot every second for
# the recent minute). The thread-leaking
# services are capped (their first argument) so that, kept running for
# DEMO_KEEP seconds, they cannot exhaust the machine's threads.

hr "Leaks: five production incidents, diagnosed by nprof on its own"
demo_leaks_secs=${DEMO_LEAKS_SECONDS:-20}
demo_leaks=(
	"double_send|1. the double send (risk control)|3000"
	"timer_leak|2. a timer per loop turn (message broker)|"
	"client_per_request|3. a client per request (cloud API caller)|50 1000"
	"notifier_leak|4. the notifier that waits forever (websockets)|4000"
	"stage_no_consumer|5. the stage without a consumer (log pipeline)|3000"
)
declare -A demo_port demo_pid demo_t0 demo_table
for entry in "${demo_leaks[@]}"; do
	IFS='|' read -r name title args <<<"$entry"
	demo_port[$name]=$(free_port)
	# shellcheck disable=SC2086
	start "$name" "${demo_port[$name]}" "$BUILD/examples/$name" $args
	demo_pid[$name]=${pids[-1]}
	demo_t0[$name]=$SECONDS
done

echo "The five services run under nprof (default settings); nothing is"
echo "told where the leaks are. Waiting $demo_leaks_secs seconds for them to grow..."
first=${demo_leaks[0]%%|*}
for ((i = demo_t0[$first] + demo_leaks_secs - SECONDS; i > 0; i -= 5)); do
	printf '  %2d s left\r' "$i"
	sleep $((i < 5 ? i : 5))
done
printf '              \r'
# Each service is asked when it has run that long itself (starting five
# takes a while on a busy machine; the thread leaks are capped).
for entry in "${demo_leaks[@]}"; do
	name=${entry%%|*}
	left=$((demo_t0[$name] + demo_leaks_secs - SECONDS))
	[ "$left" -gt 0 ] && sleep "$left"
	demo_table[$name]=$(curl -s --max-time 30 "http://127.0.0.1:${demo_port[$name]}/debug/pprof/leaks")
done

for entry in "${demo_leaks[@]}"; do
	IFS='|' read -r name title args <<<"$entry"
	port=${demo_port[$name]}
	pid=${demo_pid[$name]}
	url="http://127.0.0.1:$port/debug/pprof"
	echo
	echo "--- $title: examples/$name.c, PID $pid"
	table=${demo_table[$name]}
	# The header, the column names and the top three suspects.
	printf '%s\n' "$table" | sed -n '1,5p' | sed 's/^/  /'
	top=$(printf '%s\n' "$table" | sed -n 3p)
	kind=$(printf '%s\n' "$top" | awk '{print $1}')
	site=$(printf '%s\n' "$top" | grep -o '[A-Za-z0-9_./-]*\.c:[0-9]*' | head -1)
	leak=$(grep -n 'LEAK:' "examples/$name.c" | head -1 | cut -d: -f1)
	if [ -n "$site" ]; then
		echo "  => top suspect: $kind at $site (the incident's leaking line is $name.c:$leak)"
	else
		echo "  => no suspect yet (the incident's leaking line is $name.c:$leak)"
	fi
	case $kind in
	heap) profile=heap ;;
	fds) profile=fd ;;
	*) profile=goroutine ;;
	esac
	echo "  dig deeper:"
	echo "    web UI (growth charts, leak table): $url/ui   difference: $url/ui#diff?p=$profile"
	echo "    go tool pprof -http : $url/$profile"
	echo "    curl '$url/goroutine?debug=2' | less     # every thread, its wait and creator"
	echo "    curl '$url/leaks?format=json'"
	echo "    $NPROF leaks $pid      $NPROF watch $pid"
done
cat <<TXT

Each table ranks what grows steadily (heap bytes, threads, descriptors), by
how consistently it grows; the pools, tables built once and per-request
buffers every one of these services also has are not listed.
?seconds=N compares fresh snapshots over the next N seconds instead of the
whole ring: curl '$url/leaks?seconds=10'
TXT
