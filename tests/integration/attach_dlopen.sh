# attach_dlopen.sh - a library the program dlopen()s after `nprof attach`
# is bound to nprof's functions as under LD_PRELOAD: with every allocation
# recorded (--heap-rate 1), it frees blocks nprof handed out and allocates
# blocks the program frees, and the program finishes normally. Before the
# dlopen redirection, the late library's free reached glibc with a block
# of nprof's sampled range and glibc aborted the program.
source "$(dirname "$0")/../lib.sh"
go="$T/go"
"$BUILD/tests/programs/late_dlopen" "$go" "$BUILD/tests/programs/shim_latefree.so" >"$T/out" 2>&1 &
pid=$!
PIDS+=("$pid")
"$NPROF" attach "$pid" --heap-rate 1 2>"$T/attach" || fail "attach: $(cat "$T/attach")"
test -S "$(sock_of "$pid")" || fail "no socket after attach"
touch "$go"
rc=0
wait "$pid" || rc=$?
cat "$T/out"
[ "$rc" = 0 ] || fail "the program exited $rc after its late dlopen"
grep -q '^done$' "$T/out" || fail "the program did not finish"
ok "a library dlopen()ed after the attach frees nprof's blocks through nprof (exit 0)"
