#!/bin/bash
# leak_time.sh - runs one leaking example under nprof at its default
# settings and prints how long until /debug/pprof/leaks (no parameters)
# names its LEAK line first with no NOISE line among the first three.
#
#   scripts/leak_time.sh EXAMPLE [LIMIT_SECONDS [ARGS...]]
#
# Prints "named S" (seconds since start, to 0.1 s): the first answer that
# ranks the LEAK line first with no NOISE line among the first three (a
# pool still filling up is growth too; it must be gone from the top three
# once the leak is named). Else "missed WHY" after LIMIT seconds (default
# 20), saying what the last answer ranked. Exit 0 when named. Used by tests/integration/leaks_slow.sh
# and bench/leaks.sh. Needs BUILD (default build) and a private
# XDG_RUNTIME_DIR is made for the run.
set -u
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=$(cd "$ROOT" && cd "${BUILD:-build}" && pwd)
ex=$1
limit=${2:-20}
# The system interpreter: a version manager's shim (pyenv) can take
# seconds to start on a loaded machine, which would be counted as nprof's.
PY=$(command -v /usr/bin/python3 || command -v python3)
shift $(($# >= 2 ? 2 : $#))
dir=$(mktemp -d /tmp/nprof-leaktime.XXXXXX)
chmod 700 "$dir"
export XDG_RUNTIME_DIR=$dir
for v in $(env | grep -o '^NPROF_[A-Z_]*'); do unset "$v"; done
start=$(date +%s.%N)
"$BUILD/nprof" run -- "$BUILD/examples/$ex" "$@" >"$dir/out" 2>&1 &
pid=$!
trap '{ kill -9 $pid; wait $pid; } 2>/dev/null; rm -rf "$dir"' EXIT
sock=$dir/nprof/$pid.sock
result="missed by ${limit}s: no answer"
while :; do
	t=$(awk -v a="$(date +%s.%N)" -v b="$start" 'BEGIN{printf "%.2f", a - b}')
	awk -v t="$t" -v l="$limit" 'BEGIN{exit !(t > l)}' && break
	if [ -S "$sock" ] &&
	   curl -s --max-time 10 --unix-socket "$sock" "http://localhost/debug/pprof/leaks?format=json" \
		-o "$dir/l.json" 2>/dev/null; then
		verdict=$("$PY" - "$dir/l.json" "$ROOT/examples/$ex.c" <<'PY'
import json, os, sys
doc = json.load(open(sys.argv[1]))
base = os.path.basename(sys.argv[2])
leak = noise = None
noise = set()
for i, l in enumerate(open(sys.argv[2]), 1):
    if "LEAK:" in l and "/*" in l:
        leak = (base, i)
    if "NOISE:" in l and "/*" in l:
        noise.add((base, i))
def places(s):
    fr = [s["site"]] if s.get("site") else []
    fr += s.get("stack", [])[:3] + s.get("created_by", [])[:3]
    return {(os.path.basename(f["file"] or ""), f["line"]) for f in fr}
sus = doc["suspects"]
for s in sus[:3]:
    site = s.get("site") or {}
    if (os.path.basename(site.get("file") or ""), site.get("line")) in noise:
        print("noise %s:%s among the first three" % (site.get("file"), site.get("line")))
        sys.exit(2)
if sus and leak in places(sus[0]):
    print("ok")
    sys.exit(0)
if sus:
    site = sus[0].get("site") or {}
    print("first %s %s:%s conf %.2f" % (sus[0]["kind"], os.path.basename(site.get("file") or "?"),
                                         site.get("line"), sus[0]["confidence"]))
sys.exit(1)
PY
)
		rc=$?
		if [ $rc = 0 ]; then
			result=$(printf 'named %.1f' "$t")
			break
		else
			result="missed by ${limit}s; last answer at $(printf '%.1f' "$t") s: ${verdict:-nothing ranked}"
		fi
	fi
	sleep 0.5
done
echo "$result"
case $result in named*) exit 0 ;; *) exit 1 ;; esac
