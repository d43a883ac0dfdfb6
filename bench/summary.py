#!/usr/bin/env python3
"""summary.py - the one table of `make bench`: every figure of the
project's performance targets beside its anchors, assembled from the
pieces' results in bench/results/ (cpu.md, heap.md, threads.md,
encode.md), each written by its own script in the same run. A piece that
is missing or did not produce a figure shows "n/a". Prints markdown.
Never fails: a benchmark is never a CI failure."""
import os
import re
import sys

RES = sys.argv[1] if len(sys.argv) > 1 else "bench/results"


def read(name):
    try:
        with open(os.path.join(RES, name)) as f:
            return f.read()
    except OSError:
        return ""


def tables(text):
    """Every markdown table of text as (header cells, [row cells])."""
    out, cur = [], None
    for line in text.splitlines():
        if line.startswith("|"):
            cells = [c.strip() for c in line.strip().strip("|").split("|")]
            if cur is None:
                cur = (cells, [])
            elif not all(re.fullmatch(r":?-+:?", c) for c in cells):
                cur[1].append(cells)
        elif cur is not None:
            out.append(cur)
            cur = None
    if cur is not None:
        out.append(cur)
    return out


def num(s):
    m = re.search(r"-?[0-9]+(?:\.[0-9]+)?", s or "")
    return float(m.group(0)) if m else None


def fmt(x, d=2, suffix=""):
    return "n/a" if x is None else f"{x:.{d}f}{suffix}"


# ---- heap (bench/heap.sh): rows by workload, columns by label ----------
heap = {}
heap_notes = []
heap_text = read("heap.md")
for hdr, rows in tables(heap_text):
    low = [h.lower() for h in hdr]
    if not any("glibc" in h for h in low):
        continue

    def col(pred):
        for i, h in enumerate(low):
            if pred(h):
                return i
        return None

    cols = {
        "bare": col(lambda h: "bare" in h),
        "default": col(lambda h: "nprof" in h and "rate 1" not in h),
        "rate1": col(lambda h: "rate 1" in h),
        "tcmalloc": col(lambda h: "tcmalloc" in h),
        "jemalloc": col(lambda h: "jemalloc" in h),
        "heaptrack": col(lambda h: "heaptrack" in h),
    }
    for r in rows:
        key = r[0].lower()
        heap[key] = {k: (num(r[i]) if i is not None and i < len(r) else None)
                     for k, i in cols.items()}
# The instruction-count note is a paragraph that may wrap over lines.
for para in re.split(r"\n\s*\n", heap_text):
    if re.search(r"instruction", para, re.I) and not para.lstrip().startswith("|"):
        heap_notes.append(" ".join(para.split()))


def hrow(workload):
    for k, v in heap.items():
        if workload in k:
            return v
    return {}


s1, s2, app = hrow("1 thread"), hrow("2 threads"), hrow("app")


def pair(a, b, key, d=2):
    return f"{fmt(a.get(key), d)} / {fmt(b.get(key), d)}"


# ---- cpu (bench/cpu.sh) -------------------------------------------------
cpu_n = cpu_g = cpu_nc = cpu_gc = None
for hdr, rows in tables(read("cpu.md")):
    for r in rows:
        if len(r) < 3:
            continue
        wall, cpu = num(r[2]), (num(r[4]) if len(r) > 4 else None)
        if r[0].startswith("nprof"):
            cpu_n, cpu_nc = wall, cpu
        elif r[0].startswith("gperftools"):
            cpu_g, cpu_gc = wall, cpu

# ---- thread dumps (bench/threads.sh) ------------------------------------
td = eu = gd = None
for hdr, rows in tables(read("threads.md")):
    for r in rows:
        if r[0].startswith("10000"):
            td, eu, gd = num(r[1]), num(r[3]), num(r[4])

# ---- encoding and memory (bench/encode.sh) ------------------------------
enc_first = enc_later = rss_before = rss_after = arena = target = None
for hdr, rows in tables(read("encode.md")):
    for r in rows:
        if r[0] == "50000":
            t = re.findall(r"[0-9.]+", r[1])
            if len(t) == 2:
                enc_first, enc_later = float(t[0]), float(t[1])
            m = re.findall(r"[0-9.]+", r[5])
            if len(m) >= 2:
                rss_before, rss_after = float(m[0]), float(m[-1])
            arena, target = num(r[6]), num(r[7])

rows = [
    ("storm, default rate, 1 / 2 threads (× glibc)", pair(s1, s2, "default"),
     f"bare forwarding layer {pair(s1, s2, 'bare')}; tcmalloc {pair(s1, s2, 'tcmalloc')}, "
     f"jemalloc {pair(s1, s2, 'jemalloc')} (other allocators)", "≤ 1.05 / ≤ 1.05"),
    ("app workload, default rate (× glibc)", fmt(app.get("default")),
     f"bare layer {fmt(app.get('bare'))}; tcmalloc {fmt(app.get('tcmalloc'))}, "
     f"jemalloc {fmt(app.get('jemalloc'))}", "≤ 1.02"),
    ("storm, every allocation (`NPROF_HEAP_RATE=1`), 1 / 2 threads", pair(s1, s2, "rate1", 1),
     f"heaptrack {pair(s1, s2, 'heaptrack', 1)}", "≤ 3 / ≤ 4"),
    ("app workload, rate 1", fmt(app.get("rate1")), f"heaptrack {fmt(app.get('heaptrack'))}",
     "≤ 1.5"),
    ("CPU profile at 100 Hz (× no profiler: wall, CPU time of all threads)",
     f"{fmt(cpu_n, 3)} (CPU {fmt(cpu_nc, 3)})", f"gperftools {fmt(cpu_g, 3)} (CPU {fmt(cpu_gc, 3)})",
     "≤ 1.01"),
    ("dump of 10,000 parked threads (`goroutine?debug=2`)", fmt(td, 3, " s"),
     f"eu-stack {fmt(eu, 1, ' s')}, gdb {fmt(gd, 1, ' s')}", "≤ 0.15 s"),
    ("encode a heap profile of 50,000 distinct stacks (proto, gzip; later / first request)",
     f"{fmt(enc_later, 3, ' s')} / {fmt(enc_first, 3, ' s')}", "—", "≤ 0.2 s"),
    ("nprof's own memory, 50,000 distinct stacks at rate 1 (RSS − RSS without nprof; "
     "before serving / 7 s after)", f"{fmt(rss_before, 1)} / {fmt(rss_after, 1)} MiB "
     f"(arena {fmt(arena, 1)} MiB)", "—", f"≤ {fmt(target, 1)} MiB (8 MiB + 256 B per stack)"),
]
print("| figure | nprof | anchors | target |")
print("| --- | --- | --- | --- |")
for r in rows:
    print("| " + " | ".join(r) + " |")
print()
def dated(name):
    m = re.search(r"20[0-9]{2}-[0-9]{2}-[0-9]{2}(T[0-9:]+Z)?", read(name))
    return f"{name} ({m.group(0)})" if m else f"{name} (missing)"


print("Sources (each with the date it was measured): heap rows " + dated("heap.md") +
      " from bench/heap.sh, CPU " + dated("cpu.md") + ", thread dump " + dated("threads.md") +
      ", encoding and memory " + dated("encode.md") + ", all in bench/results/.")
for n in heap_notes:
    print()
    print(n)
