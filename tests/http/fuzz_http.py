#!/usr/bin/env python3
"""fuzz_http.py - a grammar-based HTTP fuzzer for nprof's endpoint.

Generates requests from a grammar (methods, paths, query parameters,
headers, Content-Length and chunked bodies, versions), then mutates some of
them (byte flips, insertions of NUL/CR/LF/0xff, truncation, duplication of
a header, huge repeats). Each request goes over a new connection (TCP or
the unix socket); the client half-closes after sending. Every answer must
be exactly one well-formed HTTP response with the error contract (errors
are one line of text/plain with X-Go-Pprof: 1 and nosniff); a request the
grammar made whole must get an answer, never a reset; the process must
stay alive. A fixed seed makes a run repeatable.

  fuzz_http.py --tcp 127.0.0.1:PORT --unix SOCK --pid PID --seconds 30 --seed 1
"""
import argparse
import os
import random
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from httpraw import exchange, check  # noqa: E402

PROFILES = ["heap", "allocs", "goroutine", "threads", "threadcreate", "block", "mutex", "fd",
            "leaks", "symbol", "cmdline", "profile", "trace", "ui", "", "nonexistent"]
PARAMS = ["debug", "seconds", "gc", "format", "pid", "sample_index", "x"]
VALUES = ["0", "1", "2", "3", "-1", "1e12", "abc", "", "%00", "%0a", "%ff", "%c3%a9", "+",
          "99999999999999999999", "1%20", "%", "%zz", "0x10", "1;2"]
METHODS = ["GET", "GET", "GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "CONNECT",
           "TRACE", "PATCH", "get", "G\x01T", "BREW"]
VERSIONS = ["HTTP/1.1", "HTTP/1.1", "HTTP/1.1", "HTTP/1.0", "HTTP/2.0", "HTTP/0.9",
            "HTTP/1.10", "http/1.1", "HTTP/1", "", "HTTP/1.1 extra"]
HOSTS = ["localhost", "127.0.0.1", "[::1]", "localhost:80", "evil.example", "", "local host",
         "127.0.0.1:99999", "[::1", "\xff"]
HEADERS = ["Accept: */*", "User-Agent: fuzz", "Accept-Encoding: gzip", "Connection: keep-alive",
           "Connection: close", "Expect: 100-continue", "Expect: 200-ok",
           "Authorization: Bearer x", "Authorization: Basic Zm9v", "X-Empty:", "Cookie: a=b",
           "Range: bytes=0-10", "Upgrade: h2c", "Transfer-Encoding: gzip, chunked"]
MAX_SECONDS_PARAM = 1  # keeps seconds= requests short


def r_path(rnd):
    k = rnd.random()
    if k < 0.05:
        return "*"
    if k < 0.10:
        return "http://localhost/debug/pprof/"
    if k < 0.15:
        return "/metrics"
    if k < 0.20:
        return "/" + rnd.choice(["", "debug", "debug/", "debug/pprof", "favicon.ico", "..", "%2e%2e/"])
    p = "/debug/pprof/" + rnd.choice(PROFILES)
    if rnd.random() < 0.1:
        p += rnd.choice(["/", "//", "/x", "%2f", "%00", ".."])
    if rnd.random() < 0.6:
        qs = []
        for _ in range(rnd.randint(1, 3)):
            name = rnd.choice(PARAMS)
            val = rnd.choice(VALUES)
            if name == "seconds" and val.isdigit() and int(val) > MAX_SECONDS_PARAM:
                val = "1"
            qs.append(name + "=" + val if rnd.random() < 0.9 else name)
        p += "?" + "&".join(qs)
    return p


def r_chunked(rnd, body):
    out = b""
    while body:
        n = rnd.randint(1, max(1, len(body)))
        out += b"%x\r\n" % n + body[:n] + b"\r\n"
        body = body[n:]
    return out + b"0\r\n\r\n"


def generate(rnd):
    method = rnd.choice(METHODS)
    version = rnd.choice(VERSIONS)
    lines = ["%s %s %s" % (method, r_path(rnd), version) if version else "%s %s" % (method, r_path(rnd))]
    if rnd.random() < 0.9:
        lines.append("Host: " + rnd.choice(HOSTS))
    for _ in range(rnd.randint(0, 4)):
        lines.append(rnd.choice(HEADERS))
    body = b""
    if method == "POST" or rnd.random() < 0.05:
        body = "+".join(rnd.choice(["0x1", "0x401000", "garbage", "0", "-1", "0xffffffffffffffffff"])
                        for _ in range(rnd.randint(0, 20))).encode()
        if rnd.random() < 0.4:
            lines.append("Transfer-Encoding: chunked")
            body = r_chunked(rnd, body)
        else:
            lines.append("Content-Length: %d" % len(body))
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


def mutate(rnd, data):
    data = bytearray(data)
    for _ in range(rnd.randint(1, 4)):
        k = rnd.random()
        pos = rnd.randint(0, max(0, len(data) - 1))
        if k < 0.25 and data:
            data[pos] = rnd.randint(0, 255)
        elif k < 0.45:
            data[pos:pos] = rnd.choice([b"\x00", b"\r", b"\n", b"\xff", b" ", b"%00", b"\r\n",
                                        b"\t", b":", b"\r\n\r\n", b"%"])
        elif k < 0.55:
            del data[pos:pos + rnd.randint(1, 8)]
        elif k < 0.65:
            data = data[:pos]
        elif k < 0.75:
            data[pos:pos] = bytes([rnd.choice(b"aA0/%")]) * rnd.choice([100, 3000, 20000, 70000])
        elif k < 0.85:
            data[pos:pos] = rnd.choice([b"Host: evil\r\n", b"Content-Length: 5\r\n",
                                        b"Content-Length: 99999999999\r\n",
                                        b"Transfer-Encoding: chunked\r\n", b" folded\r\n"])
        else:
            data[pos:pos] = rnd.choice([b"FFFFFFFFFFFF\r\n", b"1;ext=1\r\n", b"0\r\nTrailer: x\r\n\r\n"])
    return bytes(data)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--tcp", required=True)
    ap.add_argument("--unix")
    ap.add_argument("--pid", type=int, required=True)
    ap.add_argument("--seconds", type=float, default=30)
    ap.add_argument("--seed", type=int, default=1)
    a = ap.parse_args()
    host, port = a.tcp.rsplit(":", 1)
    tcp = (host, int(port))
    rnd = random.Random(a.seed)
    end = time.time() + a.seconds
    n = 0
    statuses = {}
    failures = 0
    while time.time() < end:
        req = generate(rnd)
        mutated = rnd.random() < 0.5
        if mutated:
            req = mutate(rnd, req)
        addr = a.unix if a.unix and rnd.random() < 0.3 else tcp
        head = req.startswith(b"HEAD ")
        resp, err = exchange(addr, req, timeout=15, half_close=True)
        n += 1
        why = None
        if resp:
            try:
                status, _ = check(resp, head_request=head)
                statuses[status] = statuses.get(status, 0) + 1
            except ValueError as e:
                why = str(e)
        elif err == "timeout" or not mutated:
            why = "no answer (%s)" % (err or "closed")
        else:
            statuses["none"] = statuses.get("none", 0) + 1
        if why:
            failures += 1
            print("FAIL #%d (seed %d): %s\n  request: %r" % (n, a.seed, why, req[:300]))
            if failures >= 10:
                break
        try:
            os.kill(a.pid, 0)
        except OSError:
            print("FAIL: the program died after request #%d: %r" % (n, req[:300]))
            return 1
    print("%d requests in %.0f s (seed %d); statuses %s" % (
        n, a.seconds, a.seed, dict(sorted(statuses.items(), key=lambda kv: str(kv[0])))))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
