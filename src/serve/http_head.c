/*
 * http_head.c - the strict check of a request head (and of a chunked
 * body) that the gate (http_gate.c) runs on the bytes a client sent,
 * before libmicrohttpd sees any of them.
 *
 * Why: libmicrohttpd 0.9.75 answers its own errors (414, 431, 505, bad
 * chunks, bad Content-Length) with HTML pages without our headers, and
 * for an invalid Content-Length it sends the status line and headers
 * twice. Everything it could refuse, we refuse first, with nprof's one
 * line; what passes is a plain request libmicrohttpd handles without an
 * error of its own. The check is also stricter than the library where
 * two readers could disagree (request smuggling, RFC 9112 §6.3) and where
 * a byte could change the meaning of a path or parameter (NUL, control
 * bytes, two Host headers).
 *
 * Data: none; a pure function over a byte buffer, so the fuzz targets
 * and unit tests call it directly. Reentrant; no allocation, no lock;
 * never echoes the client's bytes (reasons are constant strings).
 */
#include <string.h>
#include <strings.h>

#include "http_int.h"

/* RFC 9110 tchar: what a method or header name may contain. */
static int is_tchar(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       (c != 0 && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

static int hexval(unsigned char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

static int fail(struct nprof_head *h, int status, const char *reason)
{
	h->status = status;
	h->reason = reason;
	return 1;
}

/* The request target: origin form, visible ASCII, every %XX well formed
 * and none of them decoding to a control byte. */
static int check_target(const unsigned char *t, size_t n, struct nprof_head *h)
{
	if (n == 0 || t[0] != '/')
		return fail(h, 400, "nprof: bad request target: want a path starting with /");
	if (n > NPROF_HEAD_MAX_URI)
		return fail(h, 414, "nprof: request target over 2048 bytes");
	for (size_t i = 0; i < n; i++) {
		if (t[i] <= 0x20 || t[i] >= 0x7f)
			return fail(h, 400, "nprof: control, space or non-ASCII byte in the request "
					    "target (percent-encode it)");
		if (t[i] == '#')
			return fail(h, 400, "nprof: fragment (#) in the request target");
		if (t[i] == '%') {
			int hi = i + 2 < n ? hexval(t[i + 1]) : -1;
			int lo = i + 2 < n ? hexval(t[i + 2]) : -1;

			if (hi < 0 || lo < 0)
				return fail(h, 400, "nprof: bad percent-encoding in the request target");
			if (hi * 16 + lo < 0x20 || hi * 16 + lo == 0x7f)
				return fail(h, 400, "nprof: control byte (such as %00) in the path or a "
						    "parameter");
			i += 2;
		}
	}
	return 0;
}

/*
 * Checks a chunked body starting at p (n bytes available). 0: need more;
 * 1: decided (h->status 0 = fine, and h->head_len grows by the body).
 * Strict: no chunk extensions, no trailers, sizes in hex without sign.
 */
static int check_chunked(const unsigned char *p, size_t n, int full, struct nprof_head *h)
{
	size_t i = 0, total = 0;

	for (;;) {
		size_t size = 0, digits = 0;

		while (i < n && hexval(p[i]) >= 0) {
			if (++digits > 8)
				return fail(h, 413, "nprof: chunk size too large");
			size = size * 16 + (size_t)hexval(p[i]);
			i++;
		}
		if (i >= n)
			goto more;
		if (digits == 0)
			return fail(h, 400, "nprof: malformed chunk size");
		if (p[i] == ';')
			return fail(h, 400, "nprof: chunk extensions are not supported");
		if (p[i] != '\r')
			return fail(h, 400, "nprof: malformed chunk size line");
		if (i + 1 >= n)
			goto more;
		if (p[i + 1] != '\n')
			return fail(h, 400, "nprof: malformed chunk size line");
		i += 2;
		if (size > NPROF_HEAD_MAX_CHUNKED || total + size > NPROF_HEAD_MAX_CHUNKED)
			return fail(h, 413, "nprof: chunked request body over 64 KiB (send "
					    "Content-Length, up to 1 MiB)");
		total += size;
		if (size == 0) {
			/* The last chunk: no trailers, just the final CRLF. */
			if (i + 2 > n)
				goto more;
			if (p[i] != '\r' || p[i + 1] != '\n')
				return fail(h, 400, "nprof: trailers after a chunked body are not "
						    "supported");
			h->head_len += i + 2;
			return 1;
		}
		if (i + size + 2 > n)
			goto more;
		if (p[i + size] != '\r' || p[i + size + 1] != '\n')
			return fail(h, 400, "nprof: chunk data not followed by CRLF");
		i += size + 2;
	}
more:
	if (full)
		return fail(h, 413, "nprof: chunked request body over 64 KiB (send "
				    "Content-Length, up to 1 MiB)");
	return 0;
}

/* Case-insensitive header name match. */
static int name_is(const unsigned char *name, size_t n, const char *want)
{
	return strlen(want) == n && strncasecmp((const char *)name, want, n) == 0;
}

int nprof__head_check(const char *buf, size_t n, int full, struct nprof_head *h)
{
	const unsigned char *p = (const unsigned char *)buf;
	const unsigned char *end = NULL, *line, *eol;
	size_t i, hosts = 0, lengths = 0, encodings = 0, headers = 0;
	int chunked = 0, expect = 0;
	unsigned long long clen = 0;

	memset(h, 0, sizeof(*h));
	/* Known before the line is whole, so that even an error about an
	 * unfinished HEAD request is sent without a body. */
	if (n >= 5 && memcmp(p, "HEAD ", 5) == 0)
		h->method = NPROF_HEAD_HEAD;

	/* Find the end of the head; meanwhile refuse bare LF and overlong
	 * lines early, so a client cannot make us wait for them. */
	for (i = 0; i < n; i++) {
		if (p[i] == '\n' && (i == 0 || p[i - 1] != '\r'))
			return fail(h, 400, "nprof: bare LF in the request head (want CRLF)");
		if (p[i] == '\n' && i >= 3 && p[i - 2] == '\n') {
			end = p + i + 1;
			break;
		}
	}
	if (end == NULL) {
		const unsigned char *nl = memchr(p, '\n', n);
		size_t first = nl ? (size_t)(nl - p) : n;

		if (first > NPROF_HEAD_MAX_URI + 32)
			return fail(h, 414, "nprof: request line over 2048 bytes");
		if (n >= NPROF_HEAD_MAX || full)
			return fail(h, 431, "nprof: request head over 16 KiB");
		if (nl != NULL) {
			/* The request line is complete: check it now. */
			struct nprof_head tmp;

			if (nprof__head_check_line(buf, first + 1, &tmp) && tmp.status != 0) {
				h->method = tmp.method ? tmp.method : h->method;
				return fail(h, tmp.status, tmp.reason);
			}
		}
		return 0;
	}
	if ((size_t)(end - p) > NPROF_HEAD_MAX)
		return fail(h, 431, "nprof: request head over 16 KiB");
	h->head_len = (size_t)(end - p);

	/* Request line. */
	eol = memchr(p, '\r', (size_t)(end - p));
	if (nprof__head_check_line(buf, (size_t)(eol - p) + 2, h) && h->status != 0)
		return 1;

	/* Header fields. */
	for (line = eol + 2; line < end - 2; line = eol + 2) {
		const unsigned char *colon, *v, *ve;

		eol = memchr(line, '\r', (size_t)(end - line));
		if (++headers > NPROF_HEAD_MAX_FIELDS)
			return fail(h, 431, "nprof: more than 64 header fields");
		if (line[0] == ' ' || line[0] == '\t')
			return fail(h, 400, "nprof: folded header line (obs-fold)");
		colon = memchr(line, ':', (size_t)(eol - line));
		if (colon == NULL || colon == line)
			return fail(h, 400, "nprof: malformed header line");
		for (const unsigned char *c = line; c < colon; c++)
			if (!is_tchar(*c))
				return fail(h, 400, "nprof: invalid character in a header name");
		for (v = colon + 1; v < eol && (*v == ' ' || *v == '\t'); v++)
			;
		for (ve = eol; ve > v && (ve[-1] == ' ' || ve[-1] == '\t'); ve--)
			;
		for (const unsigned char *c = v; c < ve; c++)
			if ((*c < 0x20 && *c != '\t') || *c == 0x7f)
				return fail(h, 400, "nprof: control byte in a header value");

		if (name_is(line, (size_t)(colon - line), "Host")) {
			if (++hosts > 1)
				return fail(h, 400, "nprof: more than one Host header");
		} else if (name_is(line, (size_t)(colon - line), "Content-Length")) {
			if (++lengths > 1)
				return fail(h, 400, "nprof: ambiguous body length (Content-Length "
						    "repeated)");
			if (v == ve)
				return fail(h, 400, "nprof: invalid Content-Length");
			for (const unsigned char *c = v; c < ve; c++) {
				if (*c < '0' || *c > '9')
					return fail(h, 400, "nprof: invalid Content-Length");
				clen = clen * 10 + (unsigned)(*c - '0');
				if (clen > NPROF_HEAD_MAX_BODY)
					return fail(h, 413, "nprof: request body over 1 MiB");
			}
		} else if (name_is(line, (size_t)(colon - line), "Transfer-Encoding")) {
			if (++encodings > 1 || !((size_t)(ve - v) == 7 &&
						 strncasecmp((const char *)v, "chunked", 7) == 0))
				return fail(h, 501, "nprof: Transfer-Encoding other than a single "
						    "'chunked' is not supported");
			chunked = 1;
		} else if (name_is(line, (size_t)(colon - line), "Expect")) {
			if (!((size_t)(ve - v) == 12 &&
			      strncasecmp((const char *)v, "100-continue", 12) == 0))
				return fail(h, 417, "nprof: unsupported Expect header");
			expect = 1;
		}
	}
	/* A 100-continue expectation belongs to a request with a body (RFC
	 * 9110 10.1.1). Without one, libmicrohttpd answers "100 Continue",
	 * takes any bytes after the head for the body it was promised and
	 * closes without a final answer: refused here instead. */
	if (expect && clen == 0 && !chunked)
		return fail(h, 417, "nprof: Expect: 100-continue on a request without a body");
	if (lengths && encodings)
		return fail(h, 400, "nprof: ambiguous body length (Content-Length with "
				    "Transfer-Encoding)");
	if (h->http11 && hosts == 0)
		return fail(h, 400, "nprof: HTTP/1.1 request without Host");
	if (chunked && !h->http11)
		return fail(h, 400, "nprof: chunked body in an HTTP/1.0 request");
	if ((clen > 0 || chunked) && h->method != NPROF_HEAD_POST)
		return fail(h, 400, "nprof: request body on a method that takes none");
	h->body_len = (size_t)clen;
	h->chunked = chunked;
	if (chunked)
		return check_chunked(end, n - (size_t)(end - p), full, h);
	return 1;
}

/*
 * The request line alone ("METHOD SP TARGET SP HTTP/1.x CRLF", len bytes
 * with the CRLF): 1 with h->status set (0 = fine), filling h->method and
 * h->http11.
 */
int nprof__head_check_line(const char *buf, size_t len, struct nprof_head *h)
{
	const unsigned char *p = (const unsigned char *)buf;
	const unsigned char *eol, *sp1, *sp2;
	size_t vlen;

	h->status = 0;
	h->method = len >= 5 && memcmp(p, "HEAD ", 5) == 0 ? NPROF_HEAD_HEAD : 0;
	if (len < 2 || p[len - 2] != '\r' || p[len - 1] != '\n')
		return fail(h, 400, "nprof: malformed request line");
	eol = p + len - 2;
	sp1 = memchr(p, ' ', (size_t)(eol - p));
	if (sp1 == NULL || sp1 == p)
		return fail(h, 400, "nprof: malformed request line");
	for (const unsigned char *c = p; c < sp1; c++)
		if (!is_tchar(*c))
			return fail(h, 400, "nprof: malformed request line");
	if (sp1 - p > 16)
		return fail(h, 501, "nprof: unknown method");
	/* The method first, so that an error to a HEAD request has no body. */
	if (sp1 - p == 3 && memcmp(p, "GET", 3) == 0)
		h->method = NPROF_HEAD_GET;
	else if (sp1 - p == 4 && memcmp(p, "HEAD", 4) == 0)
		h->method = NPROF_HEAD_HEAD;
	else if (sp1 - p == 4 && memcmp(p, "POST", 4) == 0)
		h->method = NPROF_HEAD_POST;
	sp2 = memchr(sp1 + 1, ' ', (size_t)(eol - sp1 - 1));
	if (sp2 == NULL)
		return fail(h, 400, "nprof: malformed request line (want METHOD TARGET HTTP/1.1)");
	if (memchr(sp2 + 1, ' ', (size_t)(eol - sp2 - 1)) != NULL)
		return fail(h, 400, "nprof: malformed request line (space in the target?)");
	if (check_target(sp1 + 1, (size_t)(sp2 - sp1 - 1), h))
		return 1;
	vlen = (size_t)(eol - sp2 - 1);
	if (vlen == 8 && memcmp(sp2 + 1, "HTTP/1.1", 8) == 0) {
		h->http11 = 1;
	} else if (vlen == 8 && memcmp(sp2 + 1, "HTTP/1.0", 8) == 0) {
		h->http11 = 0;
	} else if (vlen >= 6 && memcmp(sp2 + 1, "HTTP/", 5) == 0) {
		return fail(h, 505, "nprof: HTTP version not supported (want HTTP/1.0 or 1.1)");
	} else {
		return fail(h, 400, "nprof: malformed request line (want METHOD TARGET HTTP/1.1)");
	}
	if (h->method == 0)
		return fail(h, 405, "nprof: method not allowed (GET, HEAD, and POST for "
				    "/debug/pprof/symbol)");
	return 1;
}
