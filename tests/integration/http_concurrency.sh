# http_concurrency.sh - concurrent clients up to the documented limit (32
# requests in progress per client address) all get an HTTP answer, never a
# reset; past it a 503 line; and a loop of clients asking for expensive
# profiles costs the program at most about one core.
source "$(dirname "$0")/../lib.sh"

port=$(free_port)
start_under_nprof "$T/out" --http "127.0.0.1:$port" -- "$BUILD/examples/idle"
export PORT=$port SOCK=$(sock_of $PID)
# The expensive part runs against 1000 threads, whose dumps cost real CPU.
start_under_nprof "$T/many.out" -- "$BUILD/tests/programs/threads_many" 1000
await 60 grep -q ready "$T/many.out" || fail "threads_many never got ready"
export TPID=$PID MSOCK=$(sock_of $PID)

PYTHONPATH="$ROOT/tests/http" python3 - <<'PY' || fail "concurrency contract broken"
import os, sys, threading, time
from httpraw import get, check

tcp = ("127.0.0.1", int(os.environ["PORT"]))
pid = int(os.environ["TPID"])
ok = True
paths = ["/debug/pprof/", "/metrics", "/debug/pprof/heap?debug=1", "/debug/pprof/goroutine"]

def run(clients, per_client, path_of, timeout=60):
    results = []
    lock = threading.Lock()
    def client(k):
        for i in range(per_client):
            resp, err = get(tcp, path_of(k, i), timeout=timeout)
            try:
                status, _ = check(resp)
                r = status
            except ValueError as e:
                r = "%s/%s" % (err, e)
            with lock:
                results.append(r)
    ts = [threading.Thread(target=client, args=(k,)) for k in range(clients)]
    for t in ts: t.start()
    for t in ts: t.join()
    return results

for clients in (12, 16, 24):
    t0 = time.time()
    res = run(clients, 15, lambda k, i: paths[(k + i) % len(paths)])
    bad = [r for r in res if r != 200]
    print("%d concurrent clients, %d requests (new connection each) in %.1f s: %d not 200 %s"
          % (clients, len(res), time.time() - t0, len(bad), sorted(set(map(str, bad)))[:5]))
    if bad:
        ok = False
        print("FAIL: below the limit every request must be served")

# Past the limit: 48 requests held open at once (a 3 s delta profile each).
res = run(48, 1, lambda k, i: "/debug/pprof/heap?seconds=3")
n200 = res.count(200); n503 = res.count(503)
other = [r for r in res if r not in (200, 503)]
print("48 concurrent 3 s profiles: %d x 200, %d x 503, other %r" % (n200, n503, other))
if other or n200 > 32 or n503 < 16 or n200 < 16:
    ok = False
    print("FAIL: past the limit of 32 per address: want 503 lines, never resets")

# Expensive requests are serialized: 8 clients in a loop for 6 s.
def cpu_ticks():
    f = open("/proc/%d/stat" % pid).read().rsplit(")", 1)[1].split()
    return int(f[11]) + int(f[12])
hz = os.sysconf("SC_CLK_TCK")
stop = time.time() + 6
served = [0]
def looper(k):
    while time.time() < stop:
        path = ["/debug/pprof/goroutine?debug=2", "/debug/pprof/heap", "/debug/pprof/fd?debug=1",
                "/debug/pprof/goroutine"][k % 4]
        resp, err = get(os.environ["MSOCK"], path, timeout=30)
        try:
            status, _ = check(resp)
            if status == 200:
                served[0] += 1
            elif status != 503:
                raise ValueError("status %d" % status)
        except ValueError as e:
            print("FAIL: expensive loop:", e, err)
            served[0] = -10**9
c0, w0 = cpu_ticks(), time.time()
ts = [threading.Thread(target=looper, args=(k,)) for k in range(8)]
for t in ts: t.start()
for t in ts: t.join()
cores = (cpu_ticks() - c0) / hz / (time.time() - w0)
print("8 looping clients: %d expensive requests served, program CPU %.2f cores" % (served[0], cores))
if served[0] <= 0:
    ok = False
if cores > 1.35:
    ok = False
    print("FAIL: serving took %.2f cores; expensive requests must run one at a time" % cores)
sys.exit(0 if ok else 1)
PY
kill -0 "$PID" || fail "the program died"
ok "no resets below the limit, 503 past it, expensive requests bounded"
