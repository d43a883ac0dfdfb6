# http_slowloris.sh - 16 connections that send one header line every 2 s
# never lock fresh clients out: each slow connection is closed once its
# request head is 5 s late, and fresh TCP and unix-socket clients are
# served promptly all along.
source "$(dirname "$0")/../lib.sh"

port=$(free_port)
start_under_nprof "$T/out" --http "127.0.0.1:$port" -- "$BUILD/examples/idle"
export PORT=$port SOCK=$(sock_of $PID)

PYTHONPATH="$ROOT/tests/http" python3 - <<'PY' || fail "slow clients starve others"
import os, socket, sys, threading, time
from httpraw import get, check

tcp = ("127.0.0.1", int(os.environ["PORT"]))
unix = os.environ["SOCK"]
ok = True
closed_after = []

def slow():
    s = socket.create_connection(tcp, timeout=30)
    t0 = time.time()
    s.sendall(b"GET /debug/pprof/ HTTP/1.1\r\nHost: localhost\r\n")
    try:
        for i in range(20):  # up to 40 s of trickle
            time.sleep(2)
            s.sendall(b"X-Slow-%d: 1\r\n" % i)
            s.settimeout(0.01)
            try:
                if s.recv(4096) == b"":
                    break
            except socket.timeout:
                pass
            s.settimeout(30)
    except (BrokenPipeError, ConnectionResetError):
        pass
    closed_after.append(time.time() - t0)
    s.close()

threads = [threading.Thread(target=slow) for _ in range(16)]
for t in threads:
    t.start()
time.sleep(0.5)
worst = 0.0
for i in range(30):
    addr = unix if i % 3 == 2 else tcp
    t0 = time.time()
    resp, err = get(addr, "/debug/pprof/", timeout=10)
    dt = time.time() - t0
    worst = max(worst, dt)
    try:
        status, _ = check(resp)
        if status != 200:
            raise ValueError("status %d" % status)
    except ValueError as e:
        ok = False
        print("FAIL: fresh client %d (%s) after %.2fs: %s %s" % (i, "unix" if addr == unix else "tcp", dt, e, err))
    time.sleep(0.2)
print("fresh clients: 30 requests during the slow trickle, slowest %.3f s" % worst)
if worst > 3.0:
    ok = False
    print("FAIL: a fresh client waited %.2f s" % worst)
for t in threads:
    t.join()
print("slow connections closed after %.1f..%.1f s" % (min(closed_after), max(closed_after)))
if max(closed_after) > 12:
    ok = False
    print("FAIL: a slow connection lived %.1f s (head deadline 5 s)" % max(closed_after))
sys.exit(0 if ok else 1)
PY
kill -0 "$PID" || fail "the program died"
ok "slow clients are cut off after the head deadline; fresh clients served"
