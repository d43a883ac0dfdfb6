#!/usr/bin/env python3
"""eustack_compare.py - the stacks nprof reports for a process's blocked
threads must equal eu-stack's, frame for frame.

usage: eustack_compare.py PID SOCKET [--min N]

nprof's goroutine?debug=1 gives each distinct stack as its raw addresses
("COUNT @ PC RA RA ...": the leaf's pc, then return addresses), and
debug=2 one block per thread with function names. `eu-stack -p PID`
(elfutils, which stops the process with ptrace and unwinds with the real
registers) prints the same addresses per thread. They are compared as
multisets of address sequences, after removing from eu-stack's stacks
what nprof by design does not show:
  - nprof's own threads (every frame of theirs is in libnprof.so or the
    C library, or one is in libmicrohttpd, nprof's HTTP server);
  - frames inside libnprof.so, and, for a thread blocked in a call nprof
    interposes, the C library frames above it (nprof's stack starts at the
    caller of the interposed function; the wait reason names the call).
Names: each frame eu-stack names must have a name in nprof's debug=1 too.
nprof is asked first: eu-stack's ptrace stop interrupts blocking calls
(they come back as restart_syscall), which nprof must not be shown.
Exit 0 when equal; 1 with the differences printed.
"""
import collections
import re
import subprocess
import sys


def maps_of(pid):
    out = []
    with open(f"/proc/{pid}/maps") as f:
        for line in f:
            parts = line.split()
            lo, hi = (int(x, 16) for x in parts[0].split("-"))
            path = parts[5] if len(parts) > 5 else ""
            out.append((lo, hi, path))
    return out


def path_of(maps, addr):
    for lo, hi, path in maps:
        if lo <= addr < hi:
            return path
    return ""


def nprof_stacks(sock):
    txt = subprocess.run(
        ["curl", "-sS", "--max-time", "60", "--unix-socket", sock,
         "http://localhost/debug/pprof/goroutine?debug=1"],
        check=True, capture_output=True, text=True).stdout
    stacks = collections.Counter()
    named = {}
    cur = None
    for line in txt.splitlines():
        m = re.match(r"^(\d+) @((?: 0x[0-9a-f]+)*)$", line)
        if m:
            cur = tuple(int(x, 16) for x in m.group(2).split())
            stacks[cur] += int(m.group(1))
            continue
        m = re.match(r"^#\t0x([0-9a-f]+)(?:\t(\S.*?)\+0x[0-9a-f]+\t.*)?$", line)
        if m and cur is not None:
            # debug=1 shows pc-1 for return addresses, the pc for the leaf
            named.setdefault(int(m.group(1), 16), m.group(2))
    return stacks, named


def eustack_threads(pid):
    p = subprocess.run(["eu-stack", "-p", str(pid)], capture_output=True, text=True)
    threads = {}
    tid = None
    for line in p.stdout.splitlines():
        m = re.match(r"^TID (\d+):", line)
        if m:
            tid = int(m.group(1))
            threads[tid] = []
            continue
        m = re.match(r"^#\d+\s+0x([0-9a-f]+)\s*(.*)$", line)
        if m and tid is not None:
            threads[tid].append((int(m.group(1), 16), m.group(2).strip()))
    return threads


def thread_name(pid, tid):
    try:
        with open(f"/proc/{pid}/task/{tid}/comm") as f:
            return f.read().strip()
    except OSError:
        return ""


def is_libc(path):
    return re.search(r"/(libc|libpthread|ld-linux[^/]*)(\.so|-)", path) is not None


def normalize(pid, maps, frames):
    """eu-stack's frames as nprof shows them, or None for nprof's threads."""
    paths = [path_of(maps, a) for a, _ in frames]
    if any("libmicrohttpd" in p for p in paths):
        return None                     # nprof's HTTP server thread
    if any(p.endswith("libnprof.so") for p in paths) and \
            all(p.endswith("libnprof.so") or is_libc(p) for p in paths):
        return None
    # A leading run of C library frames ending in a libnprof frame: the
    # thread waits in an interposed call; nprof starts at its caller.
    k = 0
    while k < len(frames) and is_libc(paths[k]):
        k += 1
    cut = 0
    while k < len(frames) and paths[k].endswith("libnprof.so"):
        k += 1
        cut = k
    return [f for f, p in zip(frames[cut:], paths[cut:]) if not p.endswith("libnprof.so")]


def main():
    pid, sock = int(sys.argv[1]), sys.argv[2]
    want_min = int(sys.argv[4]) if len(sys.argv) > 4 and sys.argv[3] == "--min" else 1
    ours, named = nprof_stacks(sock)
    maps = maps_of(pid)
    theirs = collections.Counter()
    names = {}
    for tid, frames in eustack_threads(pid).items():
        if thread_name(pid, tid).startswith("nprof"):
            continue
        fr = normalize(pid, maps, frames)
        if fr is None:
            continue
        theirs[tuple(a for a, _ in fr)] += 1
        for i, (a, n) in enumerate(fr):
            if n:
                names[a if i == 0 else a - 1] = n
    bad = 0
    for st in sorted(set(ours) | set(theirs)):
        if ours[st] != theirs[st]:
            bad += 1
            print(f"DIFF nprof x{ours[st]} eu-stack x{theirs[st]}:")
            for a in st:
                print(f"    0x{a:x} {path_of(maps, a)}")
    for a, n in sorted(names.items()):
        if a in named and not named[a]:
            bad += 1
            print(f"DIFF 0x{a:x}: eu-stack names it {n}, nprof does not")
    total = sum(theirs.values())
    frames = sum(len(s) * c for s, c in theirs.items())
    print(f"threads compared: {total}, frames: {frames}, distinct stacks: {len(theirs)}, "
          f"differences: {bad}")
    if total < want_min:
        print(f"too few threads compared ({total} < {want_min})")
        return 1
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
