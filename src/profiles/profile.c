/*
 * profile.c - what every profile module shares, whoever asks for it: the
 * request a profile is built for (struct nprof_req: debug=, seconds=, and
 * the other parameters, already checked against the profile's table row)
 * and the reply it fills (struct nprof_reply).
 *
 * It also holds the one serving path of the profiles over the per-stack
 * table (struct nprof_profile_ops, nprof__profile_serve): heap, allocs,
 * block and mutex only describe themselves; the ?seconds= delta, the
 * ?debug= text form and the error replies are done here once.
 *
 * The profiles know nothing of HTTP. serve/http.c turns a connection into
 * a struct nprof_req (arg and client_gone are its callbacks) and a filled
 * nprof_reply into a response; api/core.c does the same for the files
 * NPROF_OUT writes at exit. So a profile module is the same code whether
 * it is served, written to a file, or driven by a unit test.
 *
 * Threads: called on connection threads, several at once; no state here.
 * Nothing here may be called from a signal handler.
 */
#include "arena.h"
#include "base.h"
#include "buf.h"
#include "profile.h"
#include "stacks.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#define TEXT_PLAIN "text/plain; charset=utf-8"

/*
 * Length of the well-formed UTF-8 sequence at s (RFC 3629: no overlong
 * forms, no surrogates, nothing above U+10FFFF), or 0 when the bytes
 * there are not one.
 */
static int utf8_len(const unsigned char *s, size_t n)
{
	unsigned char c = s[0];
	int len;
	unsigned lo = 0x80, hi = 0xbf;

	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf)
		len = 2;
	else if (c >= 0xe0 && c <= 0xef)
		len = 3, lo = c == 0xe0 ? 0xa0 : 0x80, hi = c == 0xed ? 0x9f : 0xbf;
	else if (c >= 0xf0 && c <= 0xf4)
		len = 4, lo = c == 0xf0 ? 0x90 : 0x80, hi = c == 0xf4 ? 0x8f : 0xbf;
	else
		return 0;
	if ((size_t)len > n || s[1] < lo || s[1] > hi)
		return 0;
	for (int i = 2; i < len; i++)
		if (s[i] < 0x80 || s[i] > 0xbf)
			return 0;
	return len;
}

/*
 * Sets an error reply as Go's serveError does: the status, text/plain
 * and one line of reason. Whatever the handler had written is dropped.
 * Control bytes and invalid UTF-8 in the reason (it may quote a URL or a
 * header) are written \xNN, so it stays one line of valid UTF-8. Runs on
 * connection threads.
 */
void nprof__reply_error(struct nprof_reply *rep, int status, const char *fmt, ...)
{
	char line[512];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (n < 0)
		n = 0;
	if ((size_t)n >= sizeof(line))
		n = sizeof(line) - 1;

	nprof__buf_free(&rep->body);
	memset(&rep->body, 0, sizeof(rep->body));
	rep->status = status;
	rep->content_type = TEXT_PLAIN;
	rep->attachment = NULL;
	rep->encoding = NULL;
	/* The reason may quote a URL or a header: it stays one line of valid
	 * UTF-8, every control byte and every byte that is not part of a
	 * well-formed UTF-8 sequence written as \xNN. */
	for (int i = 0; i < n;) {
		unsigned char c = (unsigned char)line[i];
		int len = utf8_len((const unsigned char *)line + i, (size_t)(n - i));

		if (len > 1) {
			nprof__buf_append(&rep->body, line + i, (size_t)len);
			i += len;
			continue;
		}
		if (len == 1 && c >= 0x20 && c != 0x7f)
			nprof__buf_putc(&rep->body, (char)c);
		else
			nprof__buf_printf(&rep->body, "\\x%02x", c);
		i++;
	}
	nprof__buf_putc(&rep->body, '\n');
}

/*
 * Sleeps until `when_ns` (nprof__mono_ns() time) in steps of at most
 * 100 ms, so that a client that hangs up is noticed promptly: the profile
 * is then abandoned and what it holds released at once.
 */
int nprof__req_sleep_until(const struct nprof_req *req, int64_t when_ns)
{
	int rc;

	if (req->pause != NULL)
		req->pause(req, 1);
	for (;;) {
		int64_t left = when_ns - nprof__mono_ns();
		if (left <= 0) {
			rc = 0;
			break;
		}
		if (req->client_gone(req)) {
			rc = -1;
			break;
		}
		struct timespec ts = {0, left < 100000000 ? (long)left : 100000000L};
		nanosleep(&ts, NULL);
	}
	if (req->pause != NULL && req->pause(req, 0) < 0)
		rc = -1;
	return rc;
}


int nprof__profile_wait(const struct nprof_req *req, struct nprof_reply *rep, int64_t from_ns)
{
	if (nprof__req_sleep_until(req, from_ns + (int64_t)req->seconds * 1000000000LL) == 0)
		return 0;
	nprof__reply_error(rep, 499, "nprof: client closed the connection");
	return -1;
}

static int64_t realtime_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/*
 * The one serving path of the profiles over the per-stack table, as Go's
 * net/http/pprof serveDeltaProfile: without seconds= one snapshot; with
 * it a base snapshot, a wait that notices a client hanging up (499), a
 * second snapshot and the module's subtraction, the duration being the
 * time actually waited. Out of memory anywhere is a 503 naming the
 * profile. Runs on connection threads; snapshots are arena memory freed
 * here.
 */
void nprof__profile_serve(const struct nprof_profile_ops *ops, const struct nprof_req *req,
			  struct nprof_reply *rep)
{
	int64_t t0 = realtime_ns(), dur = 0;
	size_t nbase = 0, n = 0;
	struct nprof_counts_row *base = NULL, *rows;
	int rc;

	if (req->seconds > 0) {
		base = ops->snapshot(ops->self, &nbase);
		if (base == NULL)
			goto oom;
		int64_t m0 = nprof__mono_ns();
		if (nprof__profile_wait(req, rep, m0) < 0) {
			nprof__arena_free(base);
			return;
		}
		dur = nprof__mono_ns() - m0;
	}
	rows = ops->snapshot(ops->self, &n);
	if (rows == NULL)
		goto oom;
	if (base != NULL)
		n = ops->subtract(ops->self, rows, n, base, nbase);
	nprof__arena_free(base);
	if (req->debug != 0 && ops->write_text != NULL) {
		ops->write_text(ops->self, rows, n, &rep->body);
		nprof__arena_free(rows);
		if (rep->body.failed)
			goto oom;
		return;
	}
	rc = ops->encode_proto(ops->self, rows, n, t0, dur, &rep->body);
	nprof__arena_free(rows);
	if (rc < 0)
		goto oom;
	rep->content_type = "application/octet-stream";
	rep->attachment = ops->name;
	return;
oom:
	nprof__buf_free(&rep->body);
	nprof__reply_error(rep, 503, "nprof: out of memory building the %s profile", ops->name);
}
