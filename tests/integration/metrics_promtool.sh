# metrics_promtool.sh - /metrics of a real service under nprof: the
# Prometheus text format passes `promtool check metrics` (Debian
# prometheus), every family of docs/reference.md §5 is there with the right type, and
# the values agree with what the kernel and nprof's own profiles say.
source "$(dirname "$0")/../lib.sh"

command -v promtool >/dev/null || fail "promtool missing (scripts/deps.sh test installs prometheus)"

# timer_leak: two threads and a fixed set of descriptors (so counts can
# be compared exactly), and a heap that grows all the time.
start_under_nprof "$T/svc.out" -- "$BUILD/examples/timer_leak"
await 20 grep -q '^turns' "$T/svc.out" || fail "timer_leak never turned"

ucurl "$PID" /metrics -D "$T/hdr" -o "$T/m1" || fail "GET /metrics"
grep -qi '^content-type: text/plain; version=0.0.4; charset=utf-8' "$T/hdr" ||
	fail "content type: $(grep -i content-type "$T/hdr")"
promtool check metrics <"$T/m1" >"$T/lint" 2>&1 || { cat "$T/lint"; fail "promtool check metrics"; }
[ -s "$T/lint" ] && { cat "$T/lint"; fail "promtool lint findings"; }
ok "promtool check metrics passes, content type 0.0.4"

# Every family of docs/reference.md §5 (and the welcome process_* extras), with HELP
# and the right TYPE.
for ft in nprof_threads:gauge nprof_heap_inuse_bytes:gauge nprof_heap_inuse_objects:gauge \
	nprof_heap_alloc_bytes_total:counter nprof_fds:gauge nprof_leak_suspects:gauge \
	nprof_samples_dropped_total:counter process_resident_memory_bytes:gauge \
	process_virtual_memory_bytes:gauge process_open_fds:gauge \
	process_cpu_seconds_total:counter process_start_time_seconds:gauge; do
	f=${ft%%:*}
	grep -q "^# HELP $f " "$T/m1" || fail "no HELP for $f"
	grep -qx "# TYPE $f ${ft#*:}" "$T/m1" || fail "$f is not a ${ft#*:}"
done
for k in file socket-tcp socket-udp socket-unix pipe eventfd timerfd epoll signalfd memfd other; do
	grep -q "^nprof_fds{kind=\"$k\"} [0-9]" "$T/m1" || fail "no nprof_fds kind $k"
done
for k in heap threads fds; do
	grep -q "^nprof_leak_suspects{kind=\"$k\"} [0-9]" "$T/m1" || fail "no leak_suspects kind $k"
done
for p in cpu heap fd stacks; do
	grep -q "^nprof_samples_dropped_total{profile=\"$p\"} [0-9]" "$T/m1" || fail "no drops for $p"
done
ok "every family, kind and profile is listed"

# value NAME [FILE]: the value of an unlabelled sample.
value() { awk -v n="$1" '$1 == n { print $2 }' "${2:-$T/m}"; }

# The program's threads: /proc/PID/task minus nprof's own ("nprof",
# libmicrohttpd's "MHD-*").
program_threads() {
	local n=0 c
	for t in /proc/"$PID"/task/*; do
		c=$(cat "$t/comm" 2>/dev/null) || continue
		case "$c" in nprof | MHD-*) ;; *) n=$((n + 1)) ;; esac
	done
	echo "$n"
}
threads_match() {
	ucurl "$PID" /metrics -o "$T/m" && [ "$(value nprof_threads)" = "$(program_threads)" ]
}
await 10 threads_match || fail "nprof_threads $(value nprof_threads) != $(program_threads) program threads"
ok "nprof_threads = $(value nprof_threads), as /proc/$PID/task without nprof's threads"

# process_open_fds counts the whole process as ls does; the scrape's own
# connection may or may not be in either count.
ucurl "$PID" /metrics -o "$T/m"
ofd=$(value process_open_fds)
lsfd=$(ls /proc/"$PID"/fd | wc -l)
[ "$ofd" -ge $((lsfd - 2)) ] && [ "$ofd" -le $((lsfd + 2)) ] ||
	fail "process_open_fds $ofd, ls /proc/$PID/fd: $lsfd"
ok "process_open_fds $ofd ~ ls /proc/PID/fd $lsfd"

fd_sums_match() {
	ucurl "$PID" /metrics -o "$T/m" || return 1
	ucurl "$PID" '/debug/pprof/fd?debug=1' -o "$T/fd" || return 1
	local sum total
	sum=$(awk '/^nprof_fds\{/ { s += $2 } END { print s + 0 }' "$T/m")
	total=$(sed -n 's/^fd profile: total \([0-9]*\).*/\1/p' "$T/fd")
	echo "metrics $sum profile $total" >"$T/fdcmp"
	[ -n "$total" ] && [ "$sum" = "$total" ]
}
await 10 fd_sums_match || fail "nprof_fds sum vs fd profile: $(cat "$T/fdcmp")"
ok "sum of nprof_fds = fd profile total ($(cat "$T/fdcmp"))"

# The heap: in use grows (the leak), stays below what is resident, and
# never exceeds what was allocated; the counter only goes up.
ucurl "$PID" /metrics -o "$T/ma"
ia=$(value nprof_heap_inuse_bytes "$T/ma")
heap_grew() {
	ucurl "$PID" /metrics -o "$T/mb" && [ "$(value nprof_heap_inuse_bytes "$T/mb")" -gt "$ia" ]
}
await 20 heap_grew
ib=$(value nprof_heap_inuse_bytes "$T/mb")
aa=$(value nprof_heap_alloc_bytes_total "$T/ma") ab=$(value nprof_heap_alloc_bytes_total "$T/mb")
rss=$(value process_resident_memory_bytes "$T/mb")
objs=$(value nprof_heap_inuse_objects "$T/mb")
[ "$ia" -gt 0 ] && [ "$ib" -gt "$ia" ] || fail "heap in use did not grow: $ia -> $ib"
[ "$ab" -ge "$aa" ] && [ "$ab" -ge "$ib" ] || fail "alloc total $aa -> $ab vs in use $ib"
[ "$objs" -gt 0 ] || fail "no live objects"
# Estimates are within ±10%; the heap cannot be much larger than RSS.
[ $((ib * 10)) -le $((rss * 12)) ] || fail "heap in use $ib > resident $rss"
ok "heap in use $ia -> $ib bytes ($objs objects), allocated $ab, resident $rss"

# Process collector values.
now=$(date +%s)
st=$(value process_start_time_seconds "$T/mb")
st=${st%.*}
et=$(ps -o etimes= -p "$PID" | tr -d ' ')
[ $((now - et - st)) -le 3 ] && [ $((st - (now - et))) -le 3 ] ||
	fail "start time $st vs now $now - elapsed $et"
cpu=$(value process_cpu_seconds_total "$T/mb")
awk -v c="$cpu" 'BEGIN { exit !(c > 0) }' || fail "process_cpu_seconds_total $cpu"
[ "$(value process_virtual_memory_bytes "$T/mb")" -gt "$rss" ] || fail "vsize <= rss"
ok "process_* agree with ps (start $st, cpu ${cpu}s)"
