/*
 * profile.c - what every profile module shares, whoever asks for it: the
 * request a profile is built for (struct nprof_req: debug=, seconds=, and
 * the other parameters, already checked against the profile's table row)
 * and the reply it fills (struct nprof_reply).
 *
 * It also holds the one serving path of the snapshot profiles (struct
 * nprof_profile_ops, nprof__profile_serve): heap, allocs, block, mutex,
 * goroutine, threadcreate and fd only describe themselves; the ?seconds=
 * delta, the ?debug= text form and the error replies are done here once.
 * The error reply itself is reply.c's.
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

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

/*
 * Sleeps until `when_ns` (nprof__mono_ns() time) in steps of at most
 * 100 ms, so that a client that hangs up is noticed promptly: the profile
 * is then abandoned and what it holds released at once.
 */
int nprof__profile_sleep_until(const struct nprof_req *req, int64_t when_ns)
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
	if (nprof__profile_sleep_until(req, from_ns + (int64_t)req->seconds * 1000000000LL) == 0)
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
 * The one serving path of every snapshot profile, as Go's net/http/pprof
 * serveDeltaProfile: without seconds= one collection; with it a base
 * collection, a wait that notices a client hanging up (499), a second
 * collection and the module's subtraction, the duration being the time
 * actually waited. Then the module's text form for debug>0 (when it has
 * one) or its profile.proto. Out of memory anywhere is a 503 naming the
 * profile; a source that cannot be read (/proc) a 503 with its errno.
 * Runs on connection threads, and on a program thread for NPROF_OUT files:
 * the hook guard is raised throughout, so nothing nprof does for the
 * profile is recorded in it.
 */
void nprof__profile_serve(const struct nprof_profile_ops *ops, const struct nprof_req *req,
			  struct nprof_reply *rep)
{
	int64_t t0 = realtime_ns(), dur = 0;
	void *base = NULL, *snap = NULL;
	int guard = nprof__guard, rc = 0;

	nprof__guard = 1;
	if (req->seconds > 0 && ops->subtract != NULL) {
		/* A delta is always profile.proto (debug>0 was refused with
		 * seconds before the handler ran). */
		if ((rc = ops->collect(ops->self, 0, &base)) < 0)
			goto fail;
		int64_t m0 = nprof__mono_ns();
		if (nprof__profile_wait(req, rep, m0) < 0) {
			ops->release(ops->self, base);
			goto out;
		}
		dur = nprof__mono_ns() - m0;
	}
	rc = ops->collect(ops->self, base != NULL ? 0 : req->debug, &snap);
	if (rc == 0 && base != NULL)
		rc = ops->subtract(ops->self, snap, base);
	if (base != NULL)
		ops->release(ops->self, base);
	if (rc < 0)
		goto fail;
	if (base == NULL && req->debug != 0 && ops->write_text != NULL) {
		rc = ops->write_text(ops->self, snap, req->debug, &rep->body);
		if (rc == 0 && rep->body.failed)
			rc = -ENOMEM;
	} else {
		rc = ops->encode_proto(ops->self, snap, t0, dur, &rep->body);
		rep->content_type = "application/octet-stream";
		rep->attachment = base != NULL && ops->delta_name != NULL ? ops->delta_name : ops->name;
	}
fail:
	if (snap != NULL)
		ops->release(ops->self, snap);
	if (rc == -ENOMEM)
		nprof__reply_error(rep, 503, "nprof: out of memory building the %s profile", ops->name);
	else if (rc < 0)
		nprof__reply_error(rep, 503, "nprof: cannot read the %s profile's source: %s", ops->name,
				   strerror(-rc));
out:
	nprof__guard = guard;
}

/*
 * The callbacks of the profiles over the per-stack table (struct
 * nprof_rows_profile, the ops' self): a snapshot is the table's rows in
 * arena memory, wrapped in a struct nprof_rows.
 */
int nprof__profile_rows_collect(const void *self, int debug, void **snap)
{
	const struct nprof_rows_profile *p = self;
	struct nprof_rows *r;
	size_t n = 0;

	(void)debug;
	*snap = NULL;
	if ((r = nprof__arena_alloc(sizeof *r)) == NULL)
		return -ENOMEM;
	if ((r->row = p->snapshot(p->self, &n)) == NULL) {
		nprof__arena_free(r);
		return -ENOMEM;
	}
	r->n = n;
	*snap = r;
	return 0;
}

int nprof__profile_rows_subtract(const void *self, void *now, const void *base)
{
	const struct nprof_rows_profile *p = self;
	struct nprof_rows *r = now;
	const struct nprof_rows *b = base;

	r->n = p->subtract(p->self, r->row, r->n, b->row, b->n);
	return 0;
}

int nprof__profile_rows_text(const void *self, void *snap, int debug, struct nprof_buf *b)
{
	const struct nprof_rows_profile *p = self;
	struct nprof_rows *r = snap;

	(void)debug;
	p->write_text(p->self, r->row, r->n, b);
	return 0;
}

int nprof__profile_rows_proto(const void *self, void *snap, int64_t t0_ns, int64_t dur_ns,
			      struct nprof_buf *out)
{
	const struct nprof_rows_profile *p = self;
	struct nprof_rows *r = snap;

	return p->encode_proto(p->self, r->row, r->n, t0_ns, dur_ns, out) < 0 ? -ENOMEM : 0;
}

void nprof__profile_rows_release(const void *self, void *snap)
{
	struct nprof_rows *r = snap;

	(void)self;
	if (r == NULL)
		return;
	nprof__arena_free(r->row);
	nprof__arena_free(r);
}
