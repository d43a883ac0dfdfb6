# socket_cmdline.sh - the unix socket is 0600 in a 0700 directory, an
# unsafe directory is refused with one line (the program still runs), and
# cmdline is served only when NPROF_EXPOSE_CMDLINE=1, NUL-separated.
source "$(dirname "$0")/../lib.sh"

start_under_nprof "$T/idle.out" -- "$BUILD/examples/idle" --flag value
sock=$(sock_of "$PID")
[ "$(stat -c %a "$sock")" = 600 ] || fail "socket mode $(stat -c %a "$sock")"
[ "$(stat -c %a "$(dirname "$sock")")" = 700 ] || fail "directory mode $(stat -c %a "$(dirname "$sock")")"
[ "$(http_status --unix-socket "$sock" http://localhost/debug/pprof/cmdline)" = 404 ] ||
	fail "cmdline served without NPROF_EXPOSE_CMDLINE"
ok "socket 0600 in a 0700 directory; cmdline off by default"

NPROF_EXPOSE_CMDLINE=1 start_under_nprof "$T/idle2.out" -- "$BUILD/examples/idle" --flag value
ucurl "$PID" /debug/pprof/cmdline -o "$T/cmdline" || fail "cmdline request"
[ "$(tr '\0' ' ' <"$T/cmdline")" = "$BUILD/examples/idle --flag value" ] ||
	fail "cmdline: $(tr '\0' ' ' <"$T/cmdline")"
ok "cmdline with NPROF_EXPOSE_CMDLINE=1: argv NUL-separated"

# A socket directory others can enter is refused: one line, no socket,
# and the program runs normally.
mkdir -m 777 "$T/open"
NPROF_SOCKET="$T/open/x.sock" "$NPROF" run -- /bin/echo still-runs >"$T/open.out" 2>&1 ||
	fail "program failed: $(cat "$T/open.out")"
grep -q '^still-runs$' "$T/open.out" || fail "program output missing"
[ "$(grep -c '^nprof: ' "$T/open.out")" = 1 ] || fail "want one line: $(cat "$T/open.out")"
[ -e "$T/open/x.sock" ] && fail "socket created in a world-writable directory"
ok "unsafe socket directory refused: $(grep '^nprof: ' "$T/open.out")"
