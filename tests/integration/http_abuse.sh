# http_abuse.sh - clients that misbehave: a 1 MB header, conflicting
# framing headers, 200 idle connections, a slow client. Each is cut off or
# refused with the right status, and the endpoint keeps answering others.
source "$(dirname "$0")/../lib.sh"

port=$(free_port)
start_under_nprof "$T/out" --http "127.0.0.1:$port" -- "$BUILD/examples/idle"
export PORT=$port SOCK=$(sock_of $PID)

python3 - <<'PY' || fail "abuse checks failed"
import os, socket, sys, time
port = int(os.environ["PORT"])

def raw(data, timeout=10):
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    s.sendall(data)
    out = b""
    try:
        while True:
            b = s.recv(65536)
            if not b:
                break
            out += b
    except (socket.timeout, ConnectionResetError):
        pass
    s.close()
    return out

def status(resp):
    line = resp.split(b"\r\n", 1)[0].decode(errors="replace")
    parts = line.split()
    return int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else 0

ok = True
def check(what, cond, detail=""):
    global ok
    print(("ok: " if cond else "FAIL: ") + what + (" " + detail if not cond else ""))
    ok = ok and cond

big = b"GET /debug/pprof/ HTTP/1.1\r\nHost: localhost\r\nX-Big: " + b"a" * (1 << 20) + b"\r\n\r\n"
r = raw(big)
check("1 MB header refused with 431/413/400", status(r) in (400, 413, 431), repr(r[:80]))

r = raw(b"POST /debug/pprof/symbol HTTP/1.1\r\nHost: localhost\r\nContent-Length: 5\r\n"
        b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n")
check("Content-Length with Transfer-Encoding -> 400", status(r) == 400, repr(r[:80]))

r = raw(b"POST /debug/pprof/symbol HTTP/1.1\r\nHost: localhost\r\nContent-Length: 3\r\n"
        b"Content-Length: 4\r\n\r\n0x1")
check("duplicate Content-Length -> 400", status(r) == 400, repr(r[:80]))

# 200 idle connections: the endpoint still answers a well-behaved client
# (over the unix socket for sure; TCP is capped per address).
idle = []
for _ in range(200):
    try:
        idle.append(socket.create_connection(("127.0.0.1", port), timeout=5))
    except OSError:
        break
print("opened %d idle connections" % len(idle))
sock = os.environ["SOCK"]
u = socket.socket(socket.AF_UNIX)
u.settimeout(10)
u.connect(sock)
u.sendall(b"GET /debug/pprof/ HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
resp = b""
while True:
    b = u.recv(65536)
    if not b:
        break
    resp += b
check("unix socket answers during a TCP flood", status(resp) == 200, repr(resp[:80]))
for s in idle:
    s.close()

# A slow client (half a request line, then silence) does not hold up others.
slow = socket.create_connection(("127.0.0.1", port), timeout=5)
slow.sendall(b"GET /debug/pp")
deadline = time.time() + 10
good = False
while time.time() < deadline and not good:
    try:
        good = status(raw(b"GET /debug/pprof/ HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n", 5)) == 200
    except OSError:
        time.sleep(0.1)
check("TCP answers again after the flood, with a slow client pending", good)
slow.close()
sys.exit(0 if ok else 1)
PY
kill -0 "$PID" || fail "the program died"
ok "abusive clients refused; program alive"
