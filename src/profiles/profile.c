/*
 * profile.c - what every profile module shares, whoever asks for it: the
 * request a profile is built for (struct nprof_req: debug=, seconds=, and
 * the other parameters, already checked against the profile's table row)
 * and the reply it fills (struct nprof_reply).
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
#include "nprof_int.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#define TEXT_PLAIN "text/plain; charset=utf-8"

/*
 * Sets an error reply as Go's serveError does: the status, text/plain
 * and one line of reason. Whatever the handler had written is dropped.
 * Control characters in the reason (it may quote a URL or a header) are
 * replaced so the reason stays one line. Runs on connection threads.
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
	for (int i = 0; i < n; i++)
		if ((unsigned char)line[i] < 0x20 || line[i] == 0x7f)
			line[i] = '?';

	nprof__buf_free(&rep->body);
	memset(&rep->body, 0, sizeof(rep->body));
	rep->status = status;
	rep->content_type = TEXT_PLAIN;
	rep->attachment = NULL;
	nprof__buf_append(&rep->body, line, (size_t)n);
	nprof__buf_putc(&rep->body, '\n');
}

/*
 * Sleeps until `when_ns` (nprof__mono_ns() time) in steps of at most
 * 100 ms, so that a client that hangs up is noticed promptly: the profile
 * is then abandoned and what it holds released at once.
 */
int nprof__req_sleep_until(const struct nprof_req *req, int64_t when_ns)
{
	for (;;) {
		int64_t left = when_ns - nprof__mono_ns();
		if (left <= 0)
			return 0;
		if (req->client_gone(req))
			return -1;
		struct timespec ts = {0, left < 100000000 ? (long)left : 100000000L};
		nanosleep(&ts, NULL);
	}
}


int nprof__profile_wait(const struct nprof_req *req, struct nprof_reply *rep, int64_t from_ns)
{
	if (nprof__req_sleep_until(req, from_ns + (int64_t)req->seconds * 1000000000LL) == 0)
		return 0;
	nprof__reply_error(rep, 499, "nprof: client closed the connection");
	return -1;
}
