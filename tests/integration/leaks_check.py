#!/usr/bin/env python3
"""leaks_check.py - judges one /debug/pprof/leaks?format=json answer.

    leaks_check.py JSON SOURCE...

The first SOURCE is the example; the others (chan.h) only add noise lines.
Lines are found by their markers, never by number: "LEAK:" marks the
leaking line, "NOISE:" marks a stable pool, a table built once or a
per-request scratch buffer. Exit 0 when the first suspect names the leaking
line (its site, or one of the first three frames of its stack or of
created_by); 1 when not (yet); 2 when the answer is wrong whatever the
time: a suspect has a noise line as its site or as the first frame of its
stack, or the shape is not docs/reference.md §4's. Prints one line: what was found, or
why not.
Files are compared by base name and line: the JSON carries the path as
DWARF recorded it, which depends on how the example was compiled.
"""
import json
import os
import sys

SHAPE = {"kind", "unit", "start", "end", "growth_per_second", "confidence", "site", "stack"}


def marked(path, marker):
    base = os.path.basename(path)
    with open(path) as f:
        return {(base, i) for i, line in enumerate(f, 1) if marker in line and "/*" in line}


def key(frame):
    return (os.path.basename(frame.get("file") or ""), frame.get("line"))


def main():
    doc = json.load(open(sys.argv[1]))
    srcs = sys.argv[2:]
    leak = marked(srcs[0], "LEAK:")
    noise = set()
    for s in srcs:
        noise |= marked(s, "NOISE:")
    if len(leak) != 1:
        print("want exactly one LEAK: marker in %s, found %d" % (srcs[0], len(leak)))
        return 2
    assert isinstance(doc["window_seconds"], (int, float))
    sus = doc["suspects"]
    for s in sus:
        missing = SHAPE - set(s)
        if missing:
            print("suspect without %s: %s" % (sorted(missing), s))
            return 2
        want_unit = {"heap": "bytes", "threads": "threads", "fds": "fds"}[s["kind"]]
        if s["unit"] != want_unit or not 0 <= s["confidence"] <= 1:
            print("bad unit or confidence: %s" % s)
            return 2
        if s["kind"] == "threads" and ("wait" not in s or "created_by" not in s):
            print("thread suspect without wait/created_by: %s" % s)
            return 2
        site = key(s["site"]) if s["site"] else None
        first = key(s["stack"][0]) if s["stack"] else None
        if site in noise or first in noise:
            print("noise ranked as a suspect: %s %s:%s" % (s["kind"], site[0], site[1]))
            return 2
    if not sus:
        print("no suspects yet")
        return 1
    top = sus[0]
    places = [key(top["site"])] + [key(f) for f in top["stack"][:3]] + \
             [key(f) for f in top.get("created_by", [])[:3]]
    if not leak & set(places):
        print("first suspect is %s at %s:%s, not the LEAK line %s:%s" %
              (top["kind"], top["site"]["file"], top["site"]["line"], *next(iter(leak))))
        return 1
    print("rank 1: %s at %s:%d (%s), leak line %s:%d, confidence %.2f, %s -> %s, %+.1f/s%s" %
          (top["kind"], os.path.basename(top["site"]["file"]), top["site"]["line"],
           top["site"]["function"], *next(iter(leak)), top["confidence"], top["start"],
           top["end"], top["growth_per_second"],
           ", wait " + top["wait"] if "wait" in top else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
