# real_lib.sh - helpers for the tests that run real servers under nprof
# (tests/preload/real_*.sh); sourced after lib.sh, not run.
#
# Each such test runs the same server twice side by side, one without nprof
# and one with libnprof.so preloaded, loads them in alternating rounds
# (so that a busy machine slows both alike) and compares: the one under
# nprof must serve every profile in a form its real consumer reads (go
# tool pprof, promtool, a JSON parser), log nothing the other did not,
# and exit with the same status after the same normal shutdown.
# Throughput of both is printed as the median of the rounds (and bounded
# generously: the machine is shared, so only a collapse is a failure).

# The environment a server gets under nprof: the library preloaded, the
# contention profiles switched on so that block and mutex have samples,
# the socket under this test's XDG_RUNTIME_DIR (lib.sh).
NPROF_ENV=(LD_PRELOAD="$LIB" NPROF_BLOCK_RATE=10000 NPROF_MUTEX_FRACTION=10)

# cpu_profile_start PID SECONDS: requests a CPU profile in the background
# (into $T/cpu.pb.gz) so that it covers the load that follows; CPU_REQ is
# the request's PID for cpu_profile_check.
cpu_profile_start() {
	ucurl "$1" "/debug/pprof/profile?seconds=$2" -o "$T/cpu.pb.gz" &
	CPU_REQ=$!
}

# cpu_profile_check BINARY [busy]: waits for the CPU profile and checks
# that go tool pprof reads it and names BINARY as the main file; with
# busy, that it has samples (the process worked during the profile).
cpu_profile_check() {
	wait "$CPU_REQ" || fail "CPU profile request"
	pprof -top "$T/cpu.pb.gz" >"$T/cpu.txt" || fail "CPU profile unreadable: $(cat "$T/pprof.err")"
	grep -q "^File: $1" "$T/cpu.txt" || fail "CPU profile's main binary is not $1: $(head -2 "$T/cpu.txt")"
	[ "${2:-}" != busy ] || grep -Eq 'Total samples = [1-9]' "$T/cpu.txt" ||
		fail "CPU profile of a busy $1 has no samples: $(head -6 "$T/cpu.txt")"
	CPU_TOTAL=$(sed -n 's/.*Total samples = \([^ ]*\).*/\1/p' "$T/cpu.txt")
	PARSED=$((${PARSED:-0} + 1))
}

# every_profile PID: every other profile of PID, each read by its real
# consumer. Counts what parsed in PARSED.
every_profile() {
	local pid=$1 p
	for p in heap allocs goroutine threadcreate fd block mutex; do
		ucurl "$pid" "/debug/pprof/$p" -o "$T/$p.pb.gz" || fail "$p request"
		pprof -raw "$T/$p.pb.gz" >"$T/$p.raw" || fail "$p unreadable: $(cat "$T/pprof.err")"
		PARSED=$((${PARSED:-0} + 1))
	done
	grep -q '^Samples:' "$T/goroutine.raw" && grep -Eq '^ +[1-9][0-9]*:' "$T/goroutine.raw" ||
		fail "goroutine profile has no thread: $(head -20 "$T/goroutine.raw")"
	ucurl "$pid" /debug/pprof/leaks -o "$T/leaks.txt" || fail "leaks request"
	grep -q '^# nprof leak suspects' "$T/leaks.txt" || fail "leaks text: $(head -3 "$T/leaks.txt")"
	ucurl "$pid" "/debug/pprof/leaks?format=json" | python3 -m json.tool >/dev/null || fail "leaks JSON"
	PARSED=$((PARSED + 1))
	ucurl "$pid" /metrics -o "$T/metrics" || fail "metrics request"
	promtool check metrics <"$T/metrics" >"$T/lint" 2>&1 || fail "promtool: $(cat "$T/lint")"
	[ -s "$T/lint" ] && fail "promtool findings: $(cat "$T/lint")"
	grep -q '^nprof_threads [1-9]' "$T/metrics" || fail "metrics: no nprof_threads"
	PARSED=$((PARSED + 1))
	own_fds "$pid"
}

# own_fds PID: prints the descriptors nprof itself holds in PID after the
# profiles (the fd profile lists them), one line with what each is, and
# fails when one file is open twice: the symbolizer opens each file once.
# Sets OWN_FDS to the count.
own_fds() {
	local pid=$1 fd line list="" files=""
	line=$(ucurl "$pid" "/debug/pprof/fd?debug=1" | grep "^# nprof's own descriptors") ||
		fail "fd profile does not list nprof's own descriptors"
	OWN_FDS=0
	for fd in ${line#*:}; do
		local target
		target=$(readlink "/proc/$pid/fd/$fd" 2>/dev/null) || continue
		OWN_FDS=$((OWN_FDS + 1))
		list="$list $fd=$target"
		case "$target" in /*) files="$files$target"$'\n' ;; esac
	done
	echo "nprof's own descriptors in pid $pid after every profile: $OWN_FDS:$list"
	local twice
	twice=$(printf '%s' "$files" | sort | uniq -d)
	[ -z "$twice" ] || fail "nprof holds a file open twice: $twice"
}

# norm_log FILE [IGNORE]: the log's lines with what differs between two
# runs of the same program anyway (dates, times, PIDs, ports, counters:
# every number) replaced, sorted (threads and workers log in any order),
# without lines matching the extended regex IGNORE (lines that come and
# go by timing alone).
norm_log() {
	if [ -n "${2:-}" ]; then grep -Ev "$2" "$1"; else cat "$1"; fi | sed -E 's/[0-9]+/N/g' | sort
}

# same_log NAME BASE NPROF [IGNORE]: fails when the run under nprof logged
# a line that the run without did not (or lost one).
same_log() {
	diff <(norm_log "$2" "${4:-}") <(norm_log "$3" "${4:-}") >"$T/logdiff" ||
		fail "$1 logs differ under nprof (< without, > with):
$(head -30 "$T/logdiff")"
}

# median N...: the median of integers.
median() {
	printf '%s\n' "$@" | sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'
}

# ratio A B: A/B with two decimals.
ratio() {
	awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", (b > 0) ? a / b : 0 }'
}

# not_collapsed NAME WITH WITHOUT: throughput under nprof is at least half
# of that without (the budget is a few percent; half leaves room for a
# busy shared machine).
not_collapsed() {
	awk -v a="$2" -v b="$3" 'BEGIN { exit !(a >= b * 0.5) }' ||
		fail "$1: $2/s under nprof vs $3/s without"
}

# A test stopped by run.sh's timeout still runs lib.sh's cleanup, so that
# no server outlives it.
trap 'exit 143' TERM

for need in promtool python3; do
	command -v $need >/dev/null || fail "$need missing (scripts/deps.sh test installs it)"
done
