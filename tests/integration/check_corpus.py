#!/usr/bin/env python3
"""check_corpus.py - compares `nprof check --json` on one corpus program
with the lines its source marks `LEAK: kind`, and (heap) with what
LeakSanitizer reports on the same source.

usage: check_corpus.py SOURCE NPROF_JSON [LSAN_STDERR]
Prints one table row per leak site; exits 1 on any difference:
  - a marked line nprof does not report, or a report at an unmarked line
    (each kind, program frames: the first frame in SOURCE is the site);
  - a heap site (line, blocks, bytes) LSan reports that nprof does not.
"""
import json, os, re, sys

src, nprof_json = sys.argv[1], sys.argv[2]
lsan = sys.argv[3] if len(sys.argv) > 3 else None
base = os.path.basename(src)

expected = {}
for n, line in enumerate(open(src), 1):
    m = re.search(r'/\* LEAK: (heap|thread|fd)\b', line)
    if m:
        expected.setdefault(m.group(1), set()).add(n)

reports = json.load(open(nprof_json))
got = {"heap": {}, "thread": {}, "fd": {}}

def site(frames):
    for f in frames:
        if os.path.basename(f["file"]) == base:
            return f["line"]
    return None

for r in reports:
    for t in r["threads"]:
        s = site(t["created_by"])
        got["thread"][s] = got["thread"].get(s, 0) + t["count"]
    for f in r["fds"]:
        s = site(f["stack"])
        got["fd"][s] = got["fd"].get(s, 0) + f["count"]
    for h in r["heap"]:
        if h["leak"] == "reachable":
            continue
        s = site(h["stack"])
        b, n = got["heap"].get(s, (0, 0))
        got["heap"][s] = (b + h["blocks"], n + h["bytes"])

lsan_sites = {}
if lsan:
    text = open(lsan).read()
    for block in re.split(r'\n(?=(?:Direct|Indirect) leak of )', text):
        m = re.match(r'(Direct|Indirect) leak of (\d+) byte\(s\) in (\d+) object', block)
        if not m:
            continue
        line = None
        for fm in re.finditer(r'#\d+ 0x[0-9a-f]+ in \S+ (\S+?):(\d+)', block):
            if os.path.basename(fm.group(1)) == base:
                line = int(fm.group(2))
                break
        b, n = lsan_sites.get(line, (0, 0))
        lsan_sites[line] = (b + int(m.group(3)), n + int(m.group(2)))

bad = 0
for kind in ("thread", "fd", "heap"):
    exp = expected.get(kind, set())
    lines = set(exp) | set(got[kind]) | (set(lsan_sites) if kind == "heap" else set())
    for line in sorted(lines, key=lambda x: (x is None, x or 0)):
        g = got[kind].get(line)
        l = lsan_sites.get(line) if kind == "heap" else None
        fmt = lambda v: "-" if v is None else (f"{v[0]} blocks/{v[1]} B" if isinstance(v, tuple) else f"{v}")
        verdict = "ok"
        if line in exp and g is None:
            verdict = "MISSED"
        elif line not in exp and g is not None:
            verdict = "FALSE REPORT"
        elif kind == "heap" and l is not None and (g is None or g[0] < l[0] or g[1] < l[1]):
            verdict = "LSAN SEES MORE"
        if verdict != "ok":
            bad = 1
        lsan_col = fmt(l) if lsan and kind == "heap" else ("n/a" if kind != "heap" else "-")
        print(f"| {base}:{line} | {kind} | {'leak' if line in exp else 'none'} | {fmt(g)} | {lsan_col} | {verdict} |")
sys.exit(bad)
