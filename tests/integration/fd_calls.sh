# fd_calls.sh - every descriptor-creating and -closing call nprof
# interposes leaves the fd profile true: after each phase of
# tests/programs/fd_calls, the profile's count per kind (go tool pprof
# -tags on the proto) equals this script's own classification of
# /proc/PID/fd (readlink, sockets looked up by inode in /proc/PID/net/*),
# less the descriptors the profile names as nprof's own; nothing the
# program created is of unknown origin (only the inherited 0, 1, 2 are);
# and the program's own count of what it holds matches.
source "$(dirname "$0")/../lib.sh"

mkdir -p "$T/files"
start_under_nprof "$T/calls.out" -- "$BUILD/tests/programs/fd_calls" "$T/files"

# classify PID HIDDEN...: "kind count" lines for /proc/PID/fd, our own way.
classify() {
	python3 - "$@" <<'PY'
import os, sys, collections
pid, hidden = sys.argv[1], set(int(x) for x in sys.argv[2:])
inodes = {}
for name, kind in (("tcp", "socket-tcp"), ("tcp6", "socket-tcp"), ("udp", "socket-udp"),
                   ("udp6", "socket-udp"), ("unix", "socket-unix")):
    with open(f"/proc/{pid}/net/{name}") as f:
        next(f)
        for line in f:
            cols = line.split()
            ino = cols[6] if name == "unix" else cols[9]
            inodes[ino] = kind
counts = collections.Counter()
for fd in os.listdir(f"/proc/{pid}/fd"):
    if int(fd) in hidden:
        continue
    try:
        link = os.readlink(f"/proc/{pid}/fd/{fd}")
    except FileNotFoundError:
        continue
    if link.startswith("socket:["):
        kind = inodes.get(link[8:-1], "other")
    elif link.startswith("pipe:["):
        kind = "pipe"
    elif link.startswith("/memfd:"):
        kind = "memfd"
    elif link.startswith("anon_inode:["):
        kind = {"eventfd": "eventfd", "timerfd": "timerfd", "eventpoll": "epoll",
                "signalfd": "signalfd"}.get(link[12:-1], "other")
    elif link.startswith("/"):
        kind = "file"
    else:
        kind = "other"
    counts[kind] += 1
for k in sorted(counts):
    print(k, counts[k])
PY
}

# profile_kinds FILE: "kind count" lines from the proto, via go tool pprof.
profile_kinds() {
	pprof -tags "$1" | awk '/^ *kind: Total/ {on=1; next} /^ *[a-z]+: Total/ {on=0}
		on && /%\):/ {print $NF, int($1)}' | sort
}

for phase in 0 1 2; do
	await 20 grep -q "^ready $phase " "$T/calls.out" || { cat "$T/calls.out"; fail "phase $phase never ready"; }
	held=$(awk -v p=$phase '$1 == "ready" && $2 == p {print $3}' "$T/calls.out")
	# The text last: its list of nprof's own descriptors is taken at its
	# end, after both requests' symbolization opened what it needs.
	ucurl "$PID" "/debug/pprof/fd" -o "$T/p$phase.pb.gz" || fail "fd proto"
	ucurl "$PID" "/debug/pprof/fd?debug=1" -o "$T/p$phase.txt" || fail "fd?debug=1"
	hidden=$(sed -n "s/^# nprof's own descriptors, not counted://p" "$T/p$phase.txt")
	profile_kinds "$T/p$phase.pb.gz" >"$T/prof$phase" || fail "pprof -tags: $(cat "$T/pprof.err")"
	classify "$PID" $hidden >"$T/proc$phase"
	if ! diff "$T/proc$phase" "$T/prof$phase" >"$T/diff$phase"; then
		cat "$T/p$phase.txt"
		fail "phase $phase: profile kinds differ from /proc/$PID/fd (< proc, > profile): $(cat "$T/diff$phase")"
	fi
	# Only what the program inherited (0 1 2, and whatever the test
	# runner leaks: the set at phase 0) is of unknown origin.
	unknown=$(awk '/"origin":"unknown"/ {u=1; next} /^$/ {u=0} u && /^#\tfd / {print $3}' "$T/p$phase.txt" |
		sort -n | tr '\n' ' ')
	# In phase 1 the program also made one descriptor with a raw
	# syscall, which nprof cannot see: of unknown origin too.
	[ $phase -eq 0 ] && inherited=$unknown
	case "$inherited" in "0 1 2 "*) ;; *) fail "stdio is not of unknown origin at start: '$inherited'" ;; esac
	want=$inherited
	[ $phase -eq 1 ] && want=$(echo $inherited $(awk '$1 == "raw" {print $2}' "$T/calls.out") | tr ' ' '\n' | sort -n | tr '\n' ' ')
	[ "$unknown" = "$want" ] || { cat "$T/p$phase.txt"; fail "phase $phase: unknown origin: '$unknown' (want '$want')"; }
	total=$(sed -n 's/^fd profile: total //p' "$T/p$phase.txt")
	ninh=$(echo $inherited | wc -w)
	[ "$total" -eq $((held + ninh)) ] || fail "phase $phase: profile total $total, program holds $held + $ninh inherited"
	ok "phase $phase: $(tr '\n' ' ' <"$T/prof$phase")matches /proc; $held created, unknown: $inherited; nprof's own: $hidden"
	kill -USR1 "$PID"
done

# Every creating call was seen under its own name.
for call in open openat creat socket socketpair accept pipe dup dup2 fcntl eventfd timerfd_create \
	signalfd epoll_create memfd_create inotify_init fopen fdopen opendir 'recvmsg(SCM_RIGHTS)'; do
	grep -qF "	by $call" "$T/p1.txt" || fail "no descriptor recorded as created by $call"
done
# Stacks start at the caller: main of fd_calls, never nprof's own frames.
grep -q 'main+0x[0-9a-f]*	.*fd_calls\.c:[0-9]' "$T/p1.txt" || fail "stacks do not show main in fd_calls.c"
grep -Eq 'nprof__|fd_hooks\.c' "$T/p1.txt" && fail "nprof's own frames in the creating stacks"
ok "every call recorded by name, stacks start at the program"
wait "$PID" 2>/dev/null
