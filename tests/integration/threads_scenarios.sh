# threads_scenarios.sh - docs/incidents.md 1, 4 and 5 as example services under
# nprof (built -O2 -g, with an idle pool as noise): once the leak has
# piled up threads, the largest goroutine?debug=1 group holds the leaking
# line; `go tool pprof` on the proto agrees; debug=2 shows the wait reason
# and the "created by" line; threadcreate names the creating line.
source "$(dirname "$0")/../lib.sh"

# line_of FILE: the line marked "LEAK:" in an example's source.
line_of() {
	grep -n 'LEAK:' "$ROOT/examples/$1" | head -1 | cut -d: -f1
}

# enough PID N: the process has at least N threads.
enough() {
	[ "$(ls "/proc/$1/task" 2>/dev/null | wc -l)" -ge "$2" ]
}

check_example() {
	local ex=$1 src=$1.c leak_line
	leak_line=$(line_of "$src")
	[ -n "$leak_line" ] || fail "$src has no LEAK: marker"
	start_under_nprof "$T/$ex.out" -- "$BUILD/examples/$ex"
	# 8 idle workers + main; wait for a clear pile of leaked threads.
	await 60 enough "$PID" 160 || fail "$ex: threads never piled up ($(ls /proc/$PID/task | wc -l))"

	ucurl "$PID" "/debug/pprof/goroutine?debug=1" -o "$T/$ex.g1" || fail "$ex: debug=1"
	head -1 "$T/$ex.g1" | grep -Eq '^goroutine profile: total [0-9]+$' ||
		fail "$ex: header: $(head -1 "$T/$ex.g1")"
	# The first group: from the first "N @" line to the blank line.
	awk 'NR>1 && /^$/ {exit} NR>1 {print}' "$T/$ex.g1" >"$T/$ex.first"
	grep -q "$src:$leak_line\$" "$T/$ex.first" ||
		{ cat "$T/$ex.first"; fail "$ex: the largest group does not hold $src:$leak_line"; }
	grep -q '"wait":"pthread_cond_wait"' "$T/$ex.first" || fail "$ex: wait label missing"
	count=$(head -1 "$T/$ex.first" | awk '{print $1}')
	[ "$count" -ge 80 ] || fail "$ex: largest group has only $count threads"
	# Go's line format: "#\t0xPC\tfunc+0xOFF\tfile:line".
	grep -Pq "^#\t0x[0-9a-f]+\t[A-Za-z_][A-Za-z0-9_]*\+0x[0-9a-f]+\t\S+:[0-9]+$" "$T/$ex.first" ||
		fail "$ex: frame lines are not in Go's format"
	if grep -Eq 'nprof__|pthread_cond_wait\+|__futex' "$T/$ex.first"; then
		fail "$ex: nprof or futex-internal frames in the stack: $(cat "$T/$ex.first")"
	fi
	ok "$ex: largest group ($count threads) holds $src:$leak_line"

	# The proto, read by go tool pprof: the leaking line carries at least
	# as many threads as the text showed (threads only pile up).
	ucurl "$PID" "/debug/pprof/goroutine" -o "$T/$ex.pb.gz" || fail "$ex: proto"
	pprof -top -lines -cum -nodecount=200 "$T/$ex.pb.gz" >"$T/$ex.top" ||
		fail "$ex: pprof: $(cat "$T/pprof.err")"
	grep -q 'Type: goroutine' "$T/$ex.top" || fail "$ex: sample type"
	cum=$(awk -v pat="$src:$leak_line" '$0 ~ pat {print $4; exit}' "$T/$ex.top")
	[ -n "$cum" ] && [ "$cum" -ge "$count" ] ||
		{ cat "$T/$ex.top"; fail "$ex: pprof shows '$cum' threads at $src:$leak_line, text showed $count"; }
	pprof -raw "$T/$ex.pb.gz" >"$T/$ex.raw" || fail "$ex: pprof -raw"
	grep -q 'wait:\[pthread_cond_wait\]' "$T/$ex.raw" || fail "$ex: no wait label in the proto"
	grep -q 'thread:\[' "$T/$ex.raw" || fail "$ex: no thread-name label in the proto"
	ok "$ex: go tool pprof agrees ($cum threads at $src:$leak_line)"

	# A delta over one second, as Go's goroutine?seconds=N: the leak grows.
	ucurl "$PID" "/debug/pprof/goroutine?seconds=1" -o "$T/$ex.delta.pb.gz" || fail "$ex: delta"
	pprof -top -lines -cum -nodecount=200 "$T/$ex.delta.pb.gz" >"$T/$ex.dtop" ||
		fail "$ex: pprof on the delta: $(cat "$T/pprof.err")"
	grow=$(awk -v pat="$src:$leak_line" '$0 ~ pat {print $4; exit}' "$T/$ex.dtop")
	[ -n "$grow" ] && [ "$grow" -gt 0 ] || { cat "$T/$ex.dtop"; fail "$ex: delta shows '$grow' new threads at the leak"; }
	[ "$(http_status --unix-socket "$(sock_of "$PID")" "http://localhost/debug/pprof/goroutine?seconds=1&debug=1")" = 400 ] ||
		fail "$ex: seconds with debug=1 must be refused"
	ok "$ex: a 1-second delta shows $grow new threads at the leak"

	# debug=2: a leaked thread's block has the reason, a duration, the
	# leaking line and its creator.
	ucurl "$PID" "/debug/pprof/goroutine?debug=2" -o "$T/$ex.g2" || fail "$ex: debug=2"
	awk -v RS= -v pat="$src:$leak_line" '$0 ~ pat {print; exit}' "$T/$ex.g2" >"$T/$ex.block"
	head -1 "$T/$ex.block" | grep -Eq '^thread [0-9]+ "[^"]*" \[pthread_cond_wait, [0-9]+ (second|minute)s?\]:$' ||
		fail "$ex: header: $(head -1 "$T/$ex.block")"
	grep -Eq '^created by [A-Za-z_]+ in thread [0-9]+$' "$T/$ex.block" ||
		fail "$ex: no created-by line: $(cat "$T/$ex.block")"
	# Its location in Go's form, then the callers up to the program's own
	# line (the examples create threads through an inlined helper).
	grep -A1 '^created by' "$T/$ex.block" | grep -Pq "^\t\S+:[0-9]+ \+0x[0-9a-f]+$" ||
		fail "$ex: created-by location: $(grep -A1 '^created by' "$T/$ex.block")"
	sed -n '/^created by/,$p' "$T/$ex.block" | grep -q "$src:[0-9]*$" ||
		fail "$ex: the creating line in $src is missing: $(sed -n '/^created by/,$p' "$T/$ex.block")"
	# The idle pool is there too, as noise, with its own creator.
	grep -q 'pool_worker' "$T/$ex.g2" || fail "$ex: idle pool missing from the dump"
	ok "$ex: debug=2 shows the wait, its duration and the creator"

	# threadcreate: the creating line of the leaked threads leads.
	ucurl "$PID" "/debug/pprof/threadcreate?debug=1" -o "$T/$ex.tc" || fail "$ex: threadcreate"
	head -1 "$T/$ex.tc" | grep -Eq '^threadcreate profile: total [0-9]+$' || fail "$ex: threadcreate header"
	awk 'NR>1 && /^$/ {exit} NR>1 {print}' "$T/$ex.tc" | grep -q "$src:[0-9]*$" ||
		fail "$ex: threadcreate's first group is not in $src: $(head -8 "$T/$ex.tc")"
	ucurl "$PID" "/debug/pprof/threadcreate" -o "$T/$ex.tc.pb.gz" || fail "$ex: threadcreate proto"
	pprof -top "$T/$ex.tc.pb.gz" >"$T/$ex.tctop" || fail "$ex: pprof threadcreate: $(cat "$T/pprof.err")"
	grep -q 'Type: threadcreate' "$T/$ex.tctop" || fail "$ex: threadcreate type"
	ok "$ex: threadcreate names the creating line"
	kill -9 "$PID"
}

check_example double_send
check_example notifier_leak
check_example stage_no_consumer
