#!/usr/bin/env python3
"""layers.py - keeps src/ layered: a file uses only its own folder and the
layers below it, and no two files need each other.

    scripts/layers.py [BUILD [ROOT]]   (BUILD defaults to "build", ROOT to
                                        this repository; the test gives a
                                        small tree of its own to see it fail)

The layers, bottom to top, are listed in LAYERS below and drawn in
docs/internals/README.md. Two kinds of use are checked:

  - symbols: for every object file of the library (BUILD/obj/LAYER/x.o),
    each undefined symbol that another object of the library defines
    (nm) is an arrow from this file to that one;
  - headers: every #include "x.h" of a file in src/LAYER/ is an arrow to
    the folder holding x.h; and a header declares only what its own folder
    defines (every nprof__name it declares is defined by an object of that
    folder), so the headers split the way the code does and including a
    header of a lower layer never hands a file a function of a higher one.

An arrow into a higher layer, or sideways into another folder of the same
rank, is an error. Calls to the libc functions nprof overrides (the
non-nprof names of src/libnprof.map, e.g. close or pthread_mutex_lock) are
calls to libc, not arrows into src/hooks: the override passes them through.
Circles between files (A needs B, B needs A, through symbols) are errors
too: they are listed one per line.

Prints one line per problem and a summary; exits 1 when there is any.
"""
import os
import re
import subprocess
import sys

# Rank of each folder: a file may use its own folder and lower ranks.
# hooks and serve share a rank: they are the two ways in (the host's libc
# calls and the network) and never call each other. api (start, stop, fork,
# the public functions) wires everything together.
LAYERS = {
    "base": 0,
    "record": 1,
    "output": 2,
    "profiles": 3,
    "hooks": 4,
    "serve": 4,
    "api": 5,
}


def overrides(root):
    """Names of libnprof.map's global section that are libc's, not ours."""
    text = open(os.path.join(root, "src", "libnprof.map")).read()
    text = re.sub(r"/\*.*?\*/", "", text, flags=re.S)
    m = re.search(r"global:(.*?)local:", text, flags=re.S)
    names = set()
    for tok in re.split(r"[;\s]+", m.group(1) if m else ""):
        if re.fullmatch(r"[a-z_][a-z0-9_]*", tok) and not tok.startswith("nprof_"):
            names.add(tok)
    return names


def main():
    root = os.path.normpath(os.path.join(os.path.dirname(__file__), ".."))
    if len(sys.argv) > 2:
        root = os.path.abspath(sys.argv[2])
    build = sys.argv[1] if len(sys.argv) > 1 else "build"
    if not os.path.isabs(build):
        build = os.path.join(root, build)
    src = os.path.join(root, "src")
    problems = []

    files = {}      # "layer/name.c" -> layer
    headers = {}    # "x.h" -> layer
    for layer in sorted(os.listdir(src)):
        d = os.path.join(src, layer)
        if not os.path.isdir(d):
            continue
        if layer not in LAYERS:
            problems.append(f"src/{layer}/: a folder that is not a layer (add it to LAYERS)")
            continue
        for name in sorted(os.listdir(d)):
            if name.endswith(".h"):
                headers[name] = layer
            if name.endswith((".c", ".h")):
                files[f"{layer}/{name}"] = layer
    for name in os.listdir(src):
        if name.endswith((".c", ".h")):
            problems.append(f"src/{name}: outside every layer folder")

    # Headers.
    for f, layer in sorted(files.items()):
        for n, line in enumerate(open(os.path.join(src, f)), 1):
            m = re.match(r'\s*#\s*include\s+"([^"]+)"', line)
            if not m:
                continue
            inc = os.path.basename(m.group(1))
            to = headers.get(inc)
            if to is None or to == layer:
                continue
            if LAYERS[to] >= LAYERS[layer]:
                problems.append(f"src/{f}:{n}: includes {inc} from src/{to}/ "
                                f"({'above' if LAYERS[to] > LAYERS[layer] else 'beside'} {layer})")

    # Symbols.
    libc = overrides(root)
    defined = {}    # symbol -> "layer/name.c"
    needs = {}      # "layer/name.c" -> set of undefined symbols
    for f, layer in files.items():
        if not f.endswith(".c"):
            continue
        obj = os.path.join(build, "obj", f[:-2] + ".o")
        if not os.path.exists(obj):
            problems.append(f"{obj}: missing (run make first)")
            continue
        out = subprocess.run(["nm", "-g", "--defined-only", "--format=posix", obj],
                             check=True, capture_output=True, text=True).stdout
        for line in out.splitlines():
            defined[line.split()[0]] = f
        out = subprocess.run(["nm", "-u", "--format=posix", obj],
                             check=True, capture_output=True, text=True).stdout
        needs[f] = {line.split()[0] for line in out.splitlines() if line.strip()}

    # Each header's declarations belong to its folder.
    for f, layer in sorted(files.items()):
        if not f.endswith(".h"):
            continue
        text = re.sub(r"/\*.*?\*/|//[^\n]*", "", open(os.path.join(src, f)).read(), flags=re.S)
        # Drop brace-enclosed bodies (structs, static inline functions), so
        # only top-level declarations are left: a call inside an inline
        # helper declares nothing.
        while True:
            flat = re.sub(r"\{[^{}]*\}", ";", text)
            if flat == text:
                break
            text = flat
        for name in sorted(set(re.findall(r"\b(nprof__\w+)\s*(?:\(|\)\s*\(|\[|;)", text))):
            to = defined.get(name)
            if to is not None and files[to] != layer:
                problems.append(f"src/{f}: declares {name} of src/{to} "
                                f"(a header declares only what src/{layer}/ defines)")

    arrows = {}     # file -> {file: [symbols]}
    for f, syms in sorted(needs.items()):
        for s in sorted(syms):
            to = defined.get(s)
            if to is None or to == f or s in libc:
                continue
            arrows.setdefault(f, {}).setdefault(to, []).append(s)
    for f in sorted(arrows):
        lf = files[f]
        for to, syms in sorted(arrows[f].items()):
            lt = files[to]
            if lt != lf and LAYERS[lt] >= LAYERS[lf]:
                where = "above" if LAYERS[lt] > LAYERS[lf] else "beside"
                problems.append(f"src/{f}: uses {', '.join(syms)} of src/{to} ({where} {lf})")

    # Circles: strongly connected components of the file graph (Tarjan).
    index, low, stack, on, sccs = {}, {}, [], set(), []
    counter = [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in arrows.get(v, {}):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                sccs.append(sorted(comp))

    sys.setrecursionlimit(10000)
    for v in sorted(needs):
        if v not in index:
            visit(v)
    for comp in sccs:
        detail = []  # the arrows inside the circle, one symbol each
        for a in comp:
            for b, syms in sorted(arrows.get(a, {}).items()):
                if b in comp:
                    detail.append(f"{os.path.basename(a)}->{os.path.basename(b)} ({syms[0]})")
        problems.append(f"circle: {' '.join('src/' + c for c in comp)}: {'; '.join(detail)}")

    nfiles = len(files)
    narrows = sum(len(v) for v in arrows.values())
    for p in problems:
        print(p)
    by_layer = {}
    for f, layer in files.items():
        by_layer.setdefault(layer, 0)
        by_layer[layer] += 1
    order = sorted(LAYERS, key=lambda l: (LAYERS[l], l))
    print("layers: " + " < ".join(f"{l}({by_layer.get(l, 0)})" for l in order))
    print(f"{nfiles} files, {narrows} file-to-file arrows, {len(problems)} problems")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
