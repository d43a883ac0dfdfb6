#!/usr/bin/env bash
# cli_args.sh - the `nprof` command's arguments, exit codes and plumbing,
# without needing libnprof itself: `run` is checked with an empty shared
# object standing in for libnprof.so. `fetch` and `ps` are tested against
# real processes in cli_fetch.sh.
#
#   BUILD=build tests/integration/cli_args.sh     exit 0 = pass
#
# Every check runs; each failure prints what was expected and what came.
set -u

BUILD=${BUILD:-build}
NPROF=$(cd "$BUILD" 2>/dev/null && pwd)/nprof
[ -x "$NPROF" ] || { echo "cli_args: $BUILD/nprof not built" >&2; exit 1; }

T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT

fails=0
passes=0
fail() { echo "FAIL: $*" >&2; fails=$((fails + 1)); }
pass() { passes=$((passes + 1)); }
# check MESSAGE TEST...: passes when TEST succeeds, else fails with MESSAGE.
check() {
	local what=$1
	shift
	if "$@"; then pass; else fail "$what"; fi
}

# expect_rc WANT DESCRIPTION -- CMD...: runs CMD (stdout to $T/o, stderr
# to $T/e) under a timeout and checks its exit status.
expect_rc() {
	local want=$1 what=$2 rc
	shift 3
	timeout 20 "$@" >"$T/o" 2>"$T/e"
	rc=$?
	if [ "$rc" != "$want" ]; then
		fail "$what: exit $rc, want $want; stderr: $(head -3 "$T/e")"
		return 1
	fi
	pass
	return 0
}

# ---------------------------------------------------------------- usage
if expect_rc 0 "nprof --help" -- "$NPROF" --help; then
	for c in run fetch ps; do
		grep -qw "$c" "$T/o" || fail "nprof --help does not mention '$c'"
	done
	[ -s "$T/e" ] && fail "nprof --help wrote to stderr: $(head -1 "$T/e")"
fi
expect_rc 0 "nprof help" -- "$NPROF" help
for c in run fetch ps; do
	expect_rc 0 "nprof $c --help" -- "$NPROF" "$c" --help &&
		{ grep -q "usage: nprof $c" "$T/o" || fail "nprof $c --help: no usage on stdout"; }
	expect_rc 0 "nprof help $c" -- "$NPROF" help "$c"
done
expect_rc 0 "nprof --version" -- "$NPROF" --version &&
	{ grep -q '0\.1\.0' "$T/o" || fail "nprof --version: '$(cat "$T/o")' lacks 0.1.0"; }

expect_rc 2 "nprof (no args)" -- "$NPROF" &&
	{ grep -q 'usage:' "$T/e" || fail "nprof (no args): no usage on stderr"; }
expect_rc 2 "nprof bogus" -- "$NPROF" bogus &&
	{ grep -q 'usage:' "$T/e" || fail "nprof bogus: no usage on stderr"; }
expect_rc 2 "nprof help bogus" -- "$NPROF" help bogus
expect_rc 2 "nprof run (nothing)" -- "$NPROF" run
expect_rc 2 "nprof run without --" -- "$NPROF" run /bin/true
expect_rc 2 "nprof run --http :1 without --" -- "$NPROF" run --http :1 /bin/true
expect_rc 2 "nprof run -- (no command)" -- "$NPROF" run --
expect_rc 2 "nprof run --bogus" -- "$NPROF" run --bogus -- /bin/true
expect_rc 2 "nprof run --http (no value)" -- "$NPROF" run --http
expect_rc 2 "nprof run --cpu-hz abc" -- "$NPROF" run --cpu-hz abc -- /bin/true
expect_rc 2 "nprof run --heap-rate -1" -- "$NPROF" run --heap-rate -1 -- /bin/true
expect_rc 2 "nprof fetch (nothing)" -- "$NPROF" fetch
expect_rc 2 "nprof fetch PID only" -- "$NPROF" fetch 1234
expect_rc 2 "nprof fetch -o without value" -- "$NPROF" fetch 1234 heap -o
expect_rc 2 "nprof fetch bad target" -- "$NPROF" fetch localhost:6060 heap
expect_rc 2 "nprof fetch bad profile" -- "$NPROF" fetch 1234 ../heap
expect_rc 2 "nprof fetch --seconds x" -- "$NPROF" fetch 1234 profile --seconds x
expect_rc 2 "nprof fetch extra arg" -- "$NPROF" fetch 1234 heap extra
expect_rc 2 "nprof ps extra arg" -- "$NPROF" ps extra

# A PID that cannot exist: exit 1 with one line, no output file left.
rm -f "$T/x"
if expect_rc 1 "nprof fetch 999999999 heap" -- "$NPROF" fetch 999999999 heap -o "$T/x"; then
	[ "$(wc -l <"$T/e")" = 1 ] || fail "fetch 999999999: want one line, got: $(cat "$T/e")"
	grep -q '^nprof: ' "$T/e" || fail "fetch 999999999: message lacks 'nprof: ': $(cat "$T/e")"
	[ -e "$T/x" ] || [ -e "$T/x.tmp" ] && fail "fetch 999999999 left an output file"
fi

# ---------------------------------------------------------------- run
# An empty shared object stands in for libnprof.so: the loader accepts it
# silently, so the program's output is exactly what it prints.
if cc -shared -fPIC -o "$T/libnprof.so" -x c /dev/null 2>"$T/cc.err" &&
	cc -shared -fPIC -o "$T/libother.so" -x c /dev/null 2>>"$T/cc.err"; then
	export NPROF_LIB=$T/libnprof.so
	# shellcheck disable=SC2016  # $ expanded by the inner shell
	NPROF_HTTP='' LD_PRELOAD='' "$NPROF" run --http :6061 -- /bin/sh -c \
		'echo "$LD_PRELOAD"; echo "$NPROF_HTTP"; echo $$' >"$T/run.out" 2>"$T/run.err" &
	pid=$!
	wait "$pid"
	rc=$?
	if [ "$rc" != 0 ]; then
		fail "nprof run -- sh: exit $rc: $(cat "$T/run.err")"
	else
		mapfile -t lines <"$T/run.out"
		[ "${lines[0]:-}" = "$T/libnprof.so" ] ||
			fail "run: LD_PRELOAD='${lines[0]:-}', want $T/libnprof.so"
		[ "${lines[1]:-}" = ":6061" ] || fail "run: NPROF_HTTP='${lines[1]:-}', want :6061"
		[ "${lines[2]:-}" = "$pid" ] ||
			fail "run: program ran as PID ${lines[2]:-?}, nprof was $pid (no exec in place?)"
		[ -s "$T/run.err" ] && fail "run printed on stderr: $(head -2 "$T/run.err")"
		[ "${#lines[@]}" = 3 ] || fail "run printed extra output: $(cat "$T/run.out")"
		pass
	fi

	# An existing LD_PRELOAD is kept, after libnprof.
	# shellcheck disable=SC2016
	# (An AddressSanitizer build of the CLI refuses a preload that comes
	# before its runtime unless told that this one is harmless.)
	out=$(LD_PRELOAD=$T/libother.so ASAN_OPTIONS=${ASAN_OPTIONS:-}:verify_asan_link_order=0 \
		"$NPROF" run -- /bin/sh -c 'echo "$LD_PRELOAD"')
	check "run: LD_PRELOAD='$out', want $T/libnprof.so:$T/libother.so" \
		[ "$out" = "$T/libnprof.so:$T/libother.so" ]

	# Every flag becomes its variable; --out is made absolute and created.
	# shellcheck disable=SC2016
	out=$(cd "$T" && "$NPROF" run --out=reports/a --token s3cret --heap-rate 1 \
		--cpu-hz 250 -- /bin/sh -c \
		'echo "$NPROF_OUT|$NPROF_TOKEN|$NPROF_HEAP_RATE|$NPROF_CPU_HZ"')
	check "run flags: got '$out', want '$T/reports/a|s3cret|1|250'" \
		[ "$out" = "$T/reports/a|s3cret|1|250" ]
	check "run --out did not create the directory" [ -d "$T/reports/a" ]

	# The program's arguments after -- are its own, --help included;
	# its exit status is returned.
	out=$("$NPROF" run -- /bin/echo --help -- x)
	check "run: argv not passed as is: '$out'" [ "$out" = "--help -- x" ]
	expect_rc 3 "run: exit status of the program" -- "$NPROF" run -- /bin/sh -c 'exit 3'

	expect_rc 127 "run a missing command" -- "$NPROF" run -- "$T/no/such/cmd" &&
		{ grep -q "cannot run $T/no/such/cmd" "$T/e" ||
			fail "run missing command: message: $(cat "$T/e")"; }
	NPROF_LIB=$T/missing.so expect_rc 1 "run with NPROF_LIB missing" -- \
		"$NPROF" run -- /bin/true &&
		{ grep -q "$T/missing.so" "$T/e" || fail "NPROF_LIB missing: message: $(cat "$T/e")"; }
	unset NPROF_LIB
else
	fail "cannot build a stand-in shared object: $(cat "$T/cc.err")"
fi

# fetch and ps against a real process: tests/integration/cli_fetch.sh

echo "cli_args: $passes passed, $fails failed"
[ "$fails" = 0 ]
