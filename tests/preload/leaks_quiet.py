#!/usr/bin/env python3
"""leaks_quiet.py - judges /debug/pprof/leaks?format=json of a server that
must be quiet (steady load, no growing data set).

    leaks_quiet.py JSON

Prints every suspect (kind, site, confidence, growth); exits 1 when one has
confidence >= 0.5, else 0.
"""
import json
import os
import sys

doc = json.load(open(sys.argv[1]))
loud = 0
for s in doc["suspects"]:
    site = s.get("site") or {}
    print("  suspect: %s %s:%s %s conf %.2f, %s -> %s" % (
        s["kind"], os.path.basename(site.get("file") or "?"), site.get("line"),
        site.get("function"), s["confidence"], s["start"], s["end"]))
    loud += s["confidence"] >= 0.5
sys.exit(1 if loud else 0)
