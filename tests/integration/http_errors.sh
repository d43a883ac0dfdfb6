# http_errors.sh - every error is nprof's one line: requests that the HTTP
# library would answer itself (414, 431, 505, bad chunks, bad
# Content-Length) and ambiguous input (NUL or control bytes in a path or
# parameter, two Host headers, invalid UTF-8) each get exactly one
# response with the right status, text/plain, X-Go-Pprof: 1 and nosniff.
source "$(dirname "$0")/../lib.sh"

port=$(free_port)
start_under_nprof "$T/out" --http "127.0.0.1:$port" -- "$BUILD/examples/idle"
export PORT=$port SOCK=$(sock_of $PID)

PYTHONPATH="$ROOT/tests/http" python3 - <<'PY' || fail "error contract broken"
import os, sys
from httpraw import exchange, check

tcp = ("127.0.0.1", int(os.environ["PORT"]))
unix = os.environ["SOCK"]
H = b"Host: localhost\r\n"
cases = [
    ("414 long URI", b"GET /debug/pprof/heap?x=" + b"a" * 5000 + b" HTTP/1.1\r\n" + H + b"\r\n", 414),
    ("431 large header", b"GET /debug/pprof/ HTTP/1.1\r\n" + H + b"X-Big: " + b"b" * 20000 + b"\r\n\r\n", 431),
    ("431 1 MB header", b"GET /debug/pprof/ HTTP/1.1\r\n" + H + b"X-Big: " + b"b" * (1 << 20) + b"\r\n\r\n", 431),
    ("431 many headers", b"GET /debug/pprof/ HTTP/1.1\r\n" + H + b"".join(b"X-%d: 1\r\n" % i for i in range(200)) + b"\r\n", 431),
    ("505 HTTP/2.0", b"GET /debug/pprof/ HTTP/2.0\r\n" + H + b"\r\n", 505),
    ("505 HTTP/1.2", b"GET /debug/pprof/ HTTP/1.2\r\n" + H + b"\r\n", 505),
    ("400 garbage", b"GARBAGE\r\n\r\n", 400),
    ("400 no version", b"GET /debug/pprof/\r\n\r\n", 400),
    ("400 bare LF", b"GET /debug/pprof/ HTTP/1.1\nHost: localhost\n\n", 400),
    ("400 absolute form", b"GET http://x/debug/pprof/ HTTP/1.1\r\n" + H + b"\r\n", 400),
    ("400 bad header line", b"GET /debug/pprof/ HTTP/1.1\r\n" + H + b"no colon here\r\n\r\n", 400),
    ("400 obs-fold", b"GET /debug/pprof/ HTTP/1.1\r\n" + H + b"X-A: 1\r\n folded\r\n\r\n", 400),
    ("400 HTTP/1.1 without Host", b"GET /debug/pprof/ HTTP/1.1\r\n\r\n", 400),
    ("400 bad chunk size", b"POST /debug/pprof/symbol HTTP/1.1\r\n" + H + b"Transfer-Encoding: chunked\r\n\r\nzz\r\n0x1\r\n0\r\n\r\n", 400),
    ("400 chunk without CRLF", b"POST /debug/pprof/symbol HTTP/1.1\r\n" + H + b"Transfer-Encoding: chunked\r\n\r\n3\r\n0x1XX0\r\n\r\n", 400),
    ("413 huge chunk", b"POST /debug/pprof/symbol HTTP/1.1\r\n" + H + b"Transfer-Encoding: chunked\r\n\r\nFFFFFFFFFF\r\n", 413),
    ("413 chunked body over 64 KiB", b"POST /debug/pprof/symbol HTTP/1.1\r\n" + H + b"Transfer-Encoding: chunked\r\n\r\n10000\r\n" + b"1" * 65536 + b"\r\n1\r\n1\r\n0\r\n\r\n", 413),
    ("501 Transfer-Encoding gzip", b"POST /debug/pprof/symbol HTTP/1.1\r\n" + H + b"Transfer-Encoding: gzip\r\n\r\n", 501),
    ("400 invalid Content-Length", b"POST /debug/pprof/symbol HTTP/1.1\r\n" + H + b"Content-Length: 1x\r\n\r\n0", 400),
    ("400 negative Content-Length", b"POST /debug/pprof/symbol HTTP/1.1\r\n" + H + b"Content-Length: -1\r\n\r\n", 400),
    ("400 duplicate Content-Length", b"POST /debug/pprof/symbol HTTP/1.1\r\n" + H + b"Content-Length: 3\r\nContent-Length: 4\r\n\r\n0x1", 400),
    ("400 Content-Length and chunked", b"POST /debug/pprof/symbol HTTP/1.1\r\n" + H + b"Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400),
    ("413 Content-Length over 1 MiB", b"POST /debug/pprof/symbol HTTP/1.1\r\n" + H + b"Content-Length: 5000000\r\n\r\n", 413),
    ("405 DELETE", b"DELETE /debug/pprof/heap HTTP/1.1\r\n" + H + b"\r\n", 405),
    ("400 NUL in path", b"GET /debug/pprof/heap%00x HTTP/1.1\r\n" + H + b"\r\n", 400),
    ("400 NUL in parameter", b"GET /debug/pprof/heap?debug=1%00 HTTP/1.1\r\n" + H + b"\r\n", 400),
    ("400 control byte in parameter", b"GET /debug/pprof/heap?debug=1%0a HTTP/1.1\r\n" + H + b"\r\n", 400),
    ("400 DEL in path", b"GET /debug/pprof/heap%7f HTTP/1.1\r\n" + H + b"\r\n", 400),
    ("400 raw control byte", b"GET /debug/pprof/he\x01ap HTTP/1.1\r\n" + H + b"\r\n", 400),
    ("400 raw non-ASCII", b"GET /debug/pprof/h\xffeap HTTP/1.1\r\n" + H + b"\r\n", 400),
    ("400 bad percent", b"GET /debug/pprof/heap%zz HTTP/1.1\r\n" + H + b"\r\n", 400),
    ("400 two Host headers", b"GET /debug/pprof/heap HTTP/1.1\r\nHost: localhost\r\nHost: evil.example\r\n\r\n", 400),
    ("400 control byte in a header", b"GET /debug/pprof/ HTTP/1.1\r\n" + H + b"X-A: a\x01b\r\n\r\n", 400),
    ("404 invalid UTF-8 not echoed raw", b"GET /debug/pprof/%ff%fe%c3 HTTP/1.1\r\n" + H + b"\r\n", 404),
    ("400 invalid UTF-8 parameter not echoed raw", b"GET /debug/pprof/heap?debug=%ff%fe HTTP/1.1\r\n" + H + b"\r\n", 400),
    ("400 seconds=1e12", b"GET /debug/pprof/heap?seconds=1e12 HTTP/1.1\r\n" + H + b"\r\n", 400),
]
ok = True
for addr, where in ((tcp, "tcp"), (unix, "unix")):
    for what, req, want in cases:
        resp, err = exchange(addr, req, timeout=15)
        try:
            if err and not resp:
                raise ValueError("no answer (%s)" % err)
            status, body = check(resp)
            if status != want:
                raise ValueError("status %d, want %d: %r" % (status, want, body[:120]))
            print("ok: %s %s -> %d %s" % (where, what, status, body.decode().strip()[:90]))
        except ValueError as e:
            ok = False
            print("FAIL: %s %s: %s" % (where, what, e))
# HEAD of an error: headers only, one response.
resp, err = exchange(tcp, b"HEAD /debug/pprof/heap%00 HTTP/1.1\r\n" + H + b"\r\n")
try:
    status, _ = check(resp, head_request=True)
    assert status == 400, status
    print("ok: HEAD error: one response, no body")
except (ValueError, AssertionError) as e:
    ok = False
    print("FAIL: HEAD error:", e)
# A good request still works on both.
for addr in (tcp, unix):
    resp, err = exchange(addr, b"GET /debug/pprof/heap?debug=1 HTTP/1.1\r\n" + H + b"\r\n")
    try:
        status, body = check(resp)
        assert status == 200 and body.startswith(b"heap profile:"), (status, body[:60])
    except (ValueError, AssertionError) as e:
        ok = False
        print("FAIL: good request:", e)
resp, err = exchange(tcp, b"POST /debug/pprof/symbol HTTP/1.1\r\n" + H + b"Transfer-Encoding: chunked\r\n\r\n3\r\n0x1\r\n0\r\n\r\n")
try:
    status, body = check(resp)
    assert status == 200 and body.startswith(b"num_symbols: 1"), (status, body)
    print("ok: a well-formed chunked POST is served")
except (ValueError, AssertionError) as e:
    ok = False
    print("FAIL: chunked POST:", e)
sys.exit(0 if ok else 1)
PY
kill -0 "$PID" || fail "the program died"
ok "every error is one line with X-Go-Pprof"
