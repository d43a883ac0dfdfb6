"""httpraw.py - raw-socket HTTP helpers shared by the endpoint tests.

A response is checked against nprof's contract: exactly one well-formed
HTTP/1.1 response (status line, headers, a body of exactly Content-Length
bytes, nothing after it), and every error (status >= 400) is one line of
text/plain with X-Go-Pprof: 1 and X-Content-Type-Options: nosniff.
"""
import socket
import time


def connect(addr, timeout=10):
    if isinstance(addr, str):
        s = socket.socket(socket.AF_UNIX)
        s.settimeout(timeout)
        s.connect(addr)
    else:
        s = socket.create_connection(addr, timeout=timeout)
    return s


def exchange(addr, data, timeout=10, half_close=False):
    """Sends data, reads to EOF. Returns (bytes, error) where error is
    None, 'reset' or 'timeout'."""
    s = connect(addr, timeout)
    out = b""
    err = None
    try:
        s.sendall(data)
        if half_close:
            s.shutdown(socket.SHUT_WR)
        while True:
            b = s.recv(65536)
            if not b:
                break
            out += b
    except ConnectionResetError:
        err = "reset"
    except BrokenPipeError:
        err = "reset"
    except socket.timeout:
        err = "timeout"
    finally:
        s.close()
    return out, err


def parse(resp):
    """Parses one response. Returns (status, headers dict lower-case ->
    list, body, rest) or raises ValueError with the reason."""
    if not resp:
        raise ValueError("no response at all")
    # An interim "100 Continue" (Expect: 100-continue) may precede the answer.
    if resp.startswith(b"HTTP/1.1 100 Continue\r\n\r\n"):
        resp = resp[len(b"HTTP/1.1 100 Continue\r\n\r\n"):]
    head, sep, after = resp.partition(b"\r\n\r\n")
    if not sep:
        raise ValueError("response head not terminated: %r" % resp[:120])
    lines = head.split(b"\r\n")
    parts = lines[0].split(b" ", 2)
    if len(parts) < 2 or parts[0] not in (b"HTTP/1.1", b"HTTP/1.0") or not parts[1].isdigit():
        raise ValueError("bad status line %r" % lines[0])
    status = int(parts[1])
    headers = {}
    for ln in lines[1:]:
        k, c, v = ln.partition(b":")
        if not c:
            raise ValueError("bad header line %r" % ln)
        headers.setdefault(k.strip().lower().decode("latin-1"), []).append(
            v.strip().decode("latin-1"))
    if "content-length" not in headers:
        raise ValueError("no Content-Length (status %d)" % status)
    n = int(headers["content-length"][0])
    return status, headers, after[:n], after[n:]


def check(resp, head_request=False):
    """Checks the contract; returns (status, body) or raises ValueError."""
    status, headers, body, rest = parse(resp)
    if head_request:
        rest = body + rest
        body = b""
    if rest:
        raise ValueError("bytes after the response (two responses?): %r" % rest[:120])
    if headers.get("x-content-type-options") != ["nosniff"]:
        raise ValueError("status %d without nosniff" % status)
    if status >= 400:
        if headers.get("x-go-pprof") != ["1"]:
            raise ValueError("error %d without X-Go-Pprof: 1" % status)
        if not headers.get("content-type", [""])[0].startswith("text/plain"):
            raise ValueError("error %d not text/plain: %r" % (status, headers.get("content-type")))
        if not head_request:
            if not body.endswith(b"\n") or body.count(b"\n") != 1:
                raise ValueError("error %d body is not one line: %r" % (status, body[:200]))
            if b"<" in body:
                raise ValueError("error %d body looks like HTML: %r" % (status, body[:200]))
            try:
                body.decode("utf-8")
            except UnicodeDecodeError:
                raise ValueError("error %d body is not UTF-8: %r" % (status, body[:200]))
            if any(c < 0x20 and c != 0x0a for c in body) or 0x7f in body:
                raise ValueError("error %d body has a control byte: %r" % (status, body))
    return status, body


def get(addr, path, headers=(), timeout=30):
    req = "GET %s HTTP/1.1\r\nHost: localhost\r\n" % path
    for h in headers:
        req += h + "\r\n"
    req += "\r\n"
    return exchange(addr, req.encode(), timeout)


def await_cond(limit, fn):
    end = time.time() + limit
    while time.time() < end:
        if fn():
            return True
        time.sleep(0.05)
    return False
