#!/usr/bin/env python3
"""pprof_check.py - decodes a gzipped profile.proto by hand (no protobuf
package) and checks what continuous-profiling scrapers (Grafana
Pyroscope through Alloy, Parca) require of a scraped profile:

- time_nanos is wall-clock time (now, within the given window);
- duration_nanos is set on CPU profiles, and on delta profiles
  (seconds=N, as Go's net/http/pprof does: the window), never on an
  instant profile;
- mapping, location and function ids are 1..N;
- string_table[0] is "" and every string is valid UTF-8;
- every sample has one value per sample type, and at most 4 types;
- sample type names and units use [A-Za-z0-9_] only;
- every location has a distinct non-zero address;
- string labels are few and bounded (no per-thread or per-object keys);
- every reference (sample -> location -> mapping/function, string
  indexes) points at something that exists.

  pprof_check.py FILE[:KIND]... [--kind cpu|delta|other] --not-before NS --not-after NS
Prints one line per problem; exit 1 when any.
"""
import argparse
import gzip
import re
import sys

NAME = re.compile(r"^[A-Za-z0-9_]+$")
MAX_LABEL_KEYS = 8
MAX_LABEL_VALUES = 64


def varint(buf, i):
    shift = v = 0
    while True:
        if i >= len(buf):
            raise ValueError("truncated varint")
        b = buf[i]
        i += 1
        v |= (b & 0x7F) << shift
        if not b & 0x80:
            return v, i
        shift += 7
        if shift > 63:
            raise ValueError("varint too long")


def fields(buf):
    """Yields (field number, wire type, value) of one message."""
    i = 0
    while i < len(buf):
        key, i = varint(buf, i)
        num, wt = key >> 3, key & 7
        if wt == 0:
            v, i = varint(buf, i)
        elif wt == 2:
            n, i = varint(buf, i)
            if i + n > len(buf):
                raise ValueError("truncated field %d" % num)
            v = buf[i:i + n]
            i += n
        elif wt == 1:
            v = int.from_bytes(buf[i:i + 8], "little")
            i += 8
        elif wt == 5:
            v = int.from_bytes(buf[i:i + 4], "little")
            i += 4
        else:
            raise ValueError("wire type %d" % wt)
        yield num, wt, v


def ints(wt, v):
    """A repeated integer field, packed or not."""
    if wt == 0:
        return [v]
    out, i = [], 0
    while i < len(v):
        x, i = varint(v, i)
        out.append(x)
    return out


def signed(x):
    return x - (1 << 64) if x >= 1 << 63 else x


def decode(data):
    p = {"sample_type": [], "sample": [], "mapping": [], "location": [], "function": [],
         "strings": [], "time_nanos": 0, "duration_nanos": 0, "period_type": None,
         "default_sample_type": 0, "comment": []}
    for num, wt, v in fields(data):
        if num == 1:
            p["sample_type"].append({n: x for n, _, x in fields(v)})
        elif num == 2:
            s = {"loc": [], "val": [], "label": []}
            for n, w, x in fields(v):
                if n == 1:
                    s["loc"] += ints(w, x)
                elif n == 2:
                    s["val"] += [signed(y) for y in ints(w, x)]
                elif n == 3:
                    s["label"].append({m: y for m, _, y in fields(x)})
            p["sample"].append(s)
        elif num == 3:
            p["mapping"].append({n: x for n, _, x in fields(v)})
        elif num == 4:
            loc = {"line": []}
            for n, w, x in fields(v):
                if n == 4:
                    loc["line"].append({m: y for m, _, y in fields(x)})
                else:
                    loc[n] = x
            p["location"].append(loc)
        elif num == 5:
            p["function"].append({n: x for n, _, x in fields(v)})
        elif num == 6:
            p["strings"].append(bytes(v))
        elif num == 9:
            p["time_nanos"] = signed(v)
        elif num == 10:
            p["duration_nanos"] = signed(v)
        elif num == 11:
            p["period_type"] = {n: x for n, _, x in fields(v)}
        elif num == 13:
            p["comment"] += ints(wt, v)
        elif num == 14:
            p["default_sample_type"] = v
    return p


def check(p, kind, not_before, not_after):
    bad = []
    strs = p["strings"]
    ns = len(strs)

    def s(i, what):
        if not 0 <= i < ns:
            bad.append("%s: string index %d out of range" % (what, i))
            return ""
        return strs[i].decode("utf-8", "replace")

    if not strs or strs[0] != b"":
        bad.append("string_table[0] is not empty")
    for i, x in enumerate(strs):
        try:
            x.decode("utf-8")
        except UnicodeDecodeError:
            bad.append("string %d is not valid UTF-8: %r" % (i, x[:60]))
    if not not_before <= p["time_nanos"] <= not_after:
        bad.append("time_nanos %d is not wall-clock now (%d..%d)" % (p["time_nanos"], not_before, not_after))
    if kind == "cpu" and p["duration_nanos"] <= 0:
        bad.append("CPU profile without duration_nanos")
    if kind == "other" and p["duration_nanos"] != 0:
        bad.append("duration_nanos %d on an instant (non-CPU) profile" % p["duration_nanos"])
    if kind == "delta" and p["duration_nanos"] <= 0:
        bad.append("delta profile without its window in duration_nanos")
    nt = len(p["sample_type"])
    if not 1 <= nt <= 4:
        bad.append("%d sample types (want 1..4)" % nt)
    for st in p["sample_type"] + ([p["period_type"]] if p["period_type"] else []):
        for f, what in ((1, "type"), (2, "unit")):
            name = s(st.get(f, 0), "sample type")
            if not NAME.match(name):
                bad.append("sample %s %r is not [A-Za-z0-9_]+" % (what, name))
    for what in ("mapping", "location", "function"):
        ids = [x.get(1, 0) for x in p[what]]
        if sorted(ids) != list(range(1, len(ids) + 1)):
            bad.append("%s ids are not 1..N: %r" % (what, ids[:20]))
    mids = {m.get(1) for m in p["mapping"]}
    fids = {f.get(1) for f in p["function"]}
    lids = {l.get(1) for l in p["location"]}
    for m in p["mapping"]:
        s(m.get(5, 0), "mapping filename")
        s(m.get(6, 0), "mapping build id")
    for f in p["function"]:
        for k in (2, 3, 4):
            s(f.get(k, 0), "function")
    addrs = {}
    for l in p["location"]:
        a = l.get(3, 0)
        if a == 0:
            bad.append("location %d has address 0" % l.get(1, 0))
        elif a in addrs:
            bad.append("locations %d and %d share address %#x" % (addrs[a], l.get(1, 0), a))
        addrs.setdefault(a, l.get(1, 0))
        if l.get(2, 0) and l.get(2) not in mids:
            bad.append("location %d: unknown mapping %d" % (l.get(1, 0), l.get(2)))
        for ln in l["line"]:
            if ln.get(1) not in fids:
                bad.append("location %d: unknown function %r" % (l.get(1, 0), ln.get(1)))
    keys = {}
    for i, smp in enumerate(p["sample"]):
        if len(smp["val"]) != nt:
            bad.append("sample %d has %d values for %d types" % (i, len(smp["val"]), nt))
        for lid in smp["loc"]:
            if lid not in lids:
                bad.append("sample %d: unknown location %d" % (i, lid))
        for lab in smp["label"]:
            k = s(lab.get(1, 0), "label key")
            if lab.get(2):
                keys.setdefault(k, set()).add(s(lab[2], "label value"))
    if len(keys) > MAX_LABEL_KEYS:
        bad.append("%d string label keys (at most %d): %r" % (len(keys), MAX_LABEL_KEYS, sorted(keys)))
    for k, vals in keys.items():
        if len(vals) > MAX_LABEL_VALUES:
            bad.append("label %r has %d values (at most %d)" % (k, len(vals), MAX_LABEL_VALUES))
    s(p["default_sample_type"], "default sample type")
    return bad[:20], keys


def check_file(path, kind, not_before, not_after):
    """Checks one file; returns the list of problems, and prints a summary."""
    raw = open(path, "rb").read()
    if not raw:
        return ["empty body"]
    try:
        data = gzip.decompress(raw)
    except OSError as e:
        return ["not gzip: %s" % e]
    try:
        p = decode(data)
    except ValueError as e:
        return ["not a profile.proto: %s" % e]
    bad, keys = check(p, kind, not_before, not_after)
    types = ",".join("%s/%s" % (p["strings"][t.get(1, 0)].decode(), p["strings"][t.get(2, 0)].decode())
                     for t in p["sample_type"])
    print("# %s: %d samples, %d locations, %d functions, %d mappings; types %s; labels %s" % (
        path.rsplit("/", 1)[-1], len(p["sample"]), len(p["location"]), len(p["function"]),
        len(p["mapping"]), types, {k: len(v) for k, v in keys.items()}))
    return bad


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("files", nargs="+", help="FILE or FILE:KIND (KIND cpu, delta, other)")
    ap.add_argument("--kind", default="other")
    ap.add_argument("--not-before", type=int, required=True)
    ap.add_argument("--not-after", type=int, required=True)
    a = ap.parse_args()
    failed = 0
    for spec in a.files:
        path, _, kind = spec.partition(":")
        for b in check_file(path, kind or a.kind, a.not_before, a.not_after):
            print("FAIL: %s: %s" % (path.rsplit("/", 1)[-1], b))
            failed += 1
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
