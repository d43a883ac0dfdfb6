# check.sh - `nprof check` on a test-suite-like workload (check_suite.c:
# 20000 clean test cases of small allocations, some threads and files),
# beside LeakSanitizer (clang -fsanitize=leak) and valgrind --leak-check=full.
# CPU time (user + system) of the whole run, start to exit (the checkers'
# exit scans included); medians of alternating runs; ratios to the same
# source built
# without any checker (gcc for nprof and valgrind, clang for LSan).
set -u
cd "$(dirname "$0")/.."
source bench/lib.sh
B=${BUILD:-build}
W=$(mktemp -d)
trap 'rm -rf "$W"' EXIT
CASES=${CHECK_CASES:-20000}
gcc -O2 -g -pthread -o "$W/suite" bench/check_suite.c || exit 1
have_clang=0
if command -v clang >/dev/null && clang -O2 -g -pthread -o "$W/suite.clang" bench/check_suite.c &&
	clang -O2 -g -pthread -fsanitize=leak -o "$W/suite.lsan" bench/check_suite.c; then
	have_clang=1
fi
have_vg=0
command -v valgrind >/dev/null && have_vg=1

# CPU seconds (user + system) of the run and everything it waited for:
# on a shared, loaded machine wall time measures the neighbours.
secs() { /usr/bin/time -f '%U %S' -o "$W/t" "$@" >/dev/null 2>&1; awk '{print $1 + $2}' "$W/t"; }
plain() { secs "$W/suite" "$CASES"; }
nprofcheck() { secs "$B/nprof" check -- "$W/suite" "$CASES"; }
clangplain() { secs "$W/suite.clang" "$CASES"; }
lsan() { secs "$W/suite.lsan" "$CASES"; }
vg() { secs valgrind --leak-check=full --error-exitcode=0 "$W/suite" "$CASES"; }

kinds=(plain nprofcheck)
[ $have_clang = 1 ] && kinds+=(clangplain lsan)
ab_run 3 "${kinds[@]}"
# valgrind is slow: fewer cases, scaled, one round less.
if [ $have_vg = 1 ]; then
	vcases=$((CASES / 10))
	vplain() { secs "$W/suite" "$vcases"; }
	vgrun() { secs valgrind --leak-check=full "$W/suite" "$vcases"; }
	ab_run 3 vplain vgrun
fi

echo "## nprof check: slowdown of a test-suite-like run ($CASES cases)"
echo
echo "| variant | median CPU s | × its plain build |"
echo "| --- | --- | --- |"
row() { printf "| %s | %.3f | %.2f |\n" "$1" "$2" "$(echo "$2 / $3" | bc -l)"; }
p=$(echo "${RUNS[plain]}" | median)
row "plain (gcc -O2)" "$p" "$p"
row "nprof check (threads, fds, heap)" "$(echo "${RUNS[nprofcheck]}" | median)" "$p"
if [ $have_clang = 1 ]; then
	cp=$(echo "${RUNS[clangplain]}" | median)
	row "plain (clang -O2)" "$cp" "$cp"
	row "LeakSanitizer (clang -fsanitize=leak)" "$(echo "${RUNS[lsan]}" | median)" "$cp"
fi
if [ $have_vg = 1 ]; then
	vp=$(echo "${RUNS[vplain]}" | median)
	row "plain, $vcases cases" "$vp" "$vp"
	row "valgrind --leak-check=full, $vcases cases" "$(echo "${RUNS[vgrun]}" | median)" "$vp"
fi
