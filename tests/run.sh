#!/bin/bash
# run.sh - the test runner behind `make check`.
#
# Each test runs in its own process with a timeout: the unit binaries in
# build/tests/unit/ and the scripts in tests/integration/ and
# tests/preload/. A test passes when it exits 0. Output of a failing test
# is shown; passing tests print one line. The last line is
# "N passed, N failed", which CI reads.
#
#   tests/run.sh            everything
#   tests/run.sh unit       unit tests only
#   tests/run.sh NAME...    tests whose file name contains NAME
set -u
cd "$(dirname "$0")/.."
export BUILD=${BUILD:-build}
export NPROF_TEST_TMP=$(mktemp -d /tmp/nprof-tests.XXXXXX)
trap 'rm -rf "$NPROF_TEST_TMP"' EXIT
TIMEOUT=${TEST_TIMEOUT:-300}

tests=()
for t in "$BUILD"/tests/unit/*; do
	[ -x "$t" ] && tests+=("$t")
done
if [ "${1:-}" != unit ]; then
	for t in tests/integration/*.sh tests/preload/*.sh; do
		[ -f "$t" ] && tests+=("$t")
	done
fi
if [ $# -gt 0 ] && [ "$1" != unit ]; then
	sel=()
	for t in "${tests[@]}"; do
		for pat in "$@"; do
			case "$t" in *"$pat"*) sel+=("$t"); break ;; esac
		done
	done
	tests=("${sel[@]}")
fi

passed=0 failed=0 failures=()
for t in "${tests[@]}"; do
	name=${t#./}
	log="$NPROF_TEST_TMP/$(basename "$t").log"
	start=$(date +%s.%N)
	if [[ $t == *.sh ]]; then
		timeout -k 5 "$TIMEOUT" bash "$t" >"$log" 2>&1
	else
		timeout -k 5 "$TIMEOUT" "$t" >"$log" 2>&1
	fi
	rc=$?
	secs=$(printf '%.1f' "$(echo "$(date +%s.%N) - $start" | bc)")
	if [ $rc -eq 0 ]; then
		passed=$((passed + 1))
		printf 'PASS %-50s %5ss\n' "$name" "$secs"
	else
		failed=$((failed + 1))
		failures+=("$name")
		[ $rc -eq 124 ] && echo "(timed out after ${TIMEOUT}s)" >>"$log"
		printf 'FAIL %-50s %5ss (exit %d)\n' "$name" "$secs" "$rc"
		sed 's/^/    | /' "$log" | tail -n 60
	fi
done
[ ${#failures[@]} -gt 0 ] && printf 'failed: %s\n' "${failures[*]}"
echo "$passed passed, $failed failed"
[ $failed -eq 0 ]
