# attach_refuse.sh - `nprof attach` refuses what it cannot do in one line
# on stderr, exit 1, and leaves the target as it was (running, not
# stopped, libnprof not loaded): a PID that does not exist, another user's
# process without the rights ptrace needs (as an unprivileged user, and as
# root without CAP_SYS_PTRACE), and a statically linked program.
source "$(dirname "$0")/../lib.sh"

# one_line_refusal WHAT PATTERN CMD...: CMD exits 1 with one stderr line
# matching PATTERN.
one_line_refusal() {
	local what=$1 pattern=$2
	shift 2
	"$@" >"$T/stdout" 2>"$T/stderr"
	local rc=$?
	[ $rc -eq 1 ] || fail "$what: exit $rc, stderr: $(cat "$T/stderr")"
	[ "$(wc -l <"$T/stderr")" -eq 1 ] || fail "$what: not one line: $(cat "$T/stderr")"
	grep -Eq "$pattern" "$T/stderr" || fail "$what: message: $(cat "$T/stderr")"
	[ -s "$T/stdout" ] && fail "$what: wrote to stdout"
	ok "$what: $(cat "$T/stderr")"
}

# unharmed PID: running or sleeping (not stopped, not traced), no nprof.
unharmed() {
	local pid=$1 state tracer
	kill -0 "$pid" 2>/dev/null || fail "target $pid died"
	state=$(awk '/^State:/ {print $2}' "/proc/$pid/status")
	tracer=$(awk '/^TracerPid:/ {print $2}' "/proc/$pid/status")
	case $state in R|S|D) ;; *) fail "target $pid in state $state" ;; esac
	[ "$tracer" = 0 ] || fail "target $pid still traced by $tracer"
	grep -q libnprof "/proc/$pid/maps" && fail "target $pid has libnprof loaded"
	return 0
}

# 1. No such process: the highest PID plus one is free for long enough.
gone=$(( $(cat /proc/sys/kernel/pid_max) - 1 ))
while kill -0 "$gone" 2>/dev/null; do gone=$((gone - 1)); done
one_line_refusal "no such process" "^nprof: no process $gone\$" "$NPROF" attach "$gone"

# 2. Another user's process, without rights.
setpriv --reuid=nobody --regid=nogroup --clear-groups "$BUILD/examples/idle" >"$T/idle.out" 2>&1 &
victim=$!
PIDS+=("$victim")
as_nobody() { [ "$(stat -c %u "/proc/$victim")" = 65534 ] && grep -q idle "/proc/$victim/comm"; }
await 10 as_nobody || fail "victim not running as nobody"
one_line_refusal "another user's process (as daemon)" \
	"^nprof: no right to ptrace process $victim: .*kernel.yama.ptrace_scope.*CAP_SYS_PTRACE" \
	setpriv --reuid=daemon --regid=daemon --clear-groups env NPROF_LIB="$LIB" "$NPROF" attach "$victim"
unharmed "$victim"
one_line_refusal "another user's process (root without CAP_SYS_PTRACE)" \
	"^nprof: no right to ptrace process $victim: .*CAP_SYS_PTRACE" \
	capsh --drop=cap_sys_ptrace -- -c "exec \"$NPROF\" attach $victim"
unharmed "$victim"

# 3. A statically linked program: built here from the idle example.
${CC:-cc} -static -O2 -pthread -o "$T/idle_static" "$ROOT/examples/idle.c" -lm ||
	fail "cannot link statically (libc6-dev's libc.a missing?)"
"$T/idle_static" >"$T/static.out" 2>&1 &
static_pid=$!
PIDS+=("$static_pid")
await 10 test -e "/proc/$static_pid/maps" || fail "static program did not start"
one_line_refusal "statically linked program" \
	"^nprof: process $static_pid has no libc.so mapped \(statically linked\?\)" \
	"$NPROF" attach "$static_pid"
unharmed "$static_pid"
ok "every refused target still runs, untraced, without libnprof"
