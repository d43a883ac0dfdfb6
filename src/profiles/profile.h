/*
 * profile.h - the one profile interface (profile.c, reply.c): what a
 * profile is asked (struct nprof_req) and answers (struct nprof_reply),
 * and struct nprof_profile_ops, which a snapshot profile fills so that
 * nprof__profile_serve() serves it (docs/internals/profiles.md).
 */
#ifndef NPROF_PROFILE_H
#define NPROF_PROFILE_H

#include <stddef.h>
#include <stdint.h>

#include "base.h"
#include "buf.h"
#include "stacks.h"

struct nprof_req {
	const char *name;       /* profile name: path after /debug/pprof/ */
	int debug;              /* 0 unless ?debug=N (validated 0..2) */
	int seconds;            /* -1 when absent; else validated 1..max */
	const char *body;       /* POST body (symbol), may be NULL */
	size_t body_len;
	int query_only_get;     /* 1 for GET/HEAD */
	/* Query parameter lookup; NULL when absent. */
	const char *(*arg)(const struct nprof_req *r, const char *key);
	/* Non-zero once the client has hung up. */
	int (*client_gone)(const struct nprof_req *r);
	/* Called with 1 before nprof__profile_sleep_until() sleeps and with 0
	 * after, so the server can lend the request's place among the
	 * expensive requests meanwhile; -1 (after 0) when the client left
	 * while waiting for it again. NULL when nobody cares. */
	int (*pause)(const struct nprof_req *r, int sleeping);
	void *conn;             /* private to http.c */
};

struct nprof_reply {
	int status;                 /* 200 unless set */
	const char *content_type;   /* default "text/plain; charset=utf-8" */
	const char *attachment;     /* file name for Content-Disposition, or NULL */
	const char *encoding;       /* Content-Encoding (the UI's gzipped files), or NULL */
	const char *csp;            /* Content-Security-Policy (the UI), or NULL */
	struct nprof_buf body;
};

/*
 * Sleeps until `when_ns` (nprof__mono_ns() time) in steps of at most
 * 100 ms, so that a client that hangs up is noticed promptly. Returns 0,
 * or -1 as soon as the client is gone (the profile is then abandoned).
 * For handlers that compare several moments (leaks.c).
 */
int nprof__profile_sleep_until(const struct nprof_req *req, int64_t when_ns);

/*
 * For a ?seconds=N profile: sleeps until `from_ns` + N seconds
 * (nprof__mono_ns time). Returns 0, or -1 with a 499 reply when the client
 * hung up meanwhile (the caller frees what it holds and returns).
 */
int nprof__profile_wait(const struct nprof_req *req, struct nprof_reply *rep, int64_t from_ns);

/*
 * One snapshot profile, described by what it is and how a snapshot of it
 * is taken, subtracted and written; it knows nothing of HTTP or of
 * ?seconds=. nprof__profile_serve() does the rest for every such profile:
 * a collection (two and a subtraction for ?seconds=N, waiting in between
 * while watching the client), then the text form for ?debug=N or
 * profile.proto, and the error replies. A snapshot is whatever the module
 * says (void *), always handed back to release. Callbacks return 0, or
 * -ENOMEM (a 503 "out of memory building the NAME profile"), or another
 * negative errno when the source cannot be read. Adding a profile is one
 * module filling this struct plus one row in serve/routes.c
 * (docs/internals/profiles.md).
 */
struct nprof_profile_ops {
	const char *name;       /* "heap": download name, error messages */
	const char *delta_name; /* download name of a ?seconds= delta; NULL: name */
	const void *self;       /* the module's own state, handed back */
	/* The profile now, for the form ?debug=`debug` will write (a text
	 * form may want more than the proto), into *snap. */
	int (*collect)(const void *self, int debug, void **snap);
	/* `now` minus `base`, in place in now; the module decides which
	 * values are cumulative. NULL: the profile has no deltas. */
	int (*subtract)(const void *self, void *now, const void *base);
	/* The ?debug=N text form into b (may reorder the snapshot); NULL:
	 * none, profile.proto is served for every debug. */
	int (*write_text)(const void *self, void *snap, int debug, struct nprof_buf *b);
	/* profile.proto (gzipped) into out; t0_ns wall-clock start, dur_ns 0
	 * unless a delta. */
	int (*encode_proto)(const void *self, void *snap, int64_t t0_ns, int64_t dur_ns,
			    struct nprof_buf *out);
	/* Frees a snapshot of collect (NULL is ignored). */
	void (*release)(const void *self, void *snap);
};

/* Serves the profile `ops` describes for `req` into `rep` (see above). */
void nprof__profile_serve(const struct nprof_profile_ops *ops, const struct nprof_req *req,
			  struct nprof_reply *rep);

/*
 * A profile over the shared per-stack table (record/stackcounts.c) only
 * says how its rows are read, subtracted and written; profile.c's
 * nprof__profile_rows_* are then its nprof_profile_ops callbacks (the ops'
 * self is this struct), so the module writes no glue of its own:
 *   static const struct nprof_rows_profile heap_rows = {...};
 *   static const struct nprof_profile_ops heap_ops = NPROF_ROWS_OPS("heap", &heap_rows);
 */
struct nprof_rows_profile {
	const void *self;       /* the module's own state, handed back */
	/* Every stack's cumulative values now, in id order; arena memory,
	 * NULL when out of memory. */
	struct nprof_counts_row *(*snapshot)(const void *self, size_t *n);
	/* `now` minus `base` in place (both in id order); returns the number
	 * of rows kept. The module decides which values are cumulative. */
	size_t (*subtract)(const void *self, struct nprof_counts_row *now, size_t n,
			   const struct nprof_counts_row *base, size_t nbase);
	/* The ?debug=N text form (may reorder rows); NULL: none. */
	void (*write_text)(const void *self, struct nprof_counts_row *rows, size_t n,
			   struct nprof_buf *b);
	/* profile.proto, gzipped; 0 or negative when out of memory. */
	int (*encode_proto)(const void *self, struct nprof_counts_row *rows, size_t n,
			    int64_t t0_ns, int64_t dur_ns, struct nprof_buf *out);
};

/* A snapshot of such a profile: its rows. */
struct nprof_rows {
	struct nprof_counts_row *row;   /* arena */
	size_t n;
};

int nprof__profile_rows_collect(const void *self, int debug, void **snap);
int nprof__profile_rows_subtract(const void *self, void *now, const void *base);
int nprof__profile_rows_text(const void *self, void *snap, int debug, struct nprof_buf *b);
int nprof__profile_rows_proto(const void *self, void *snap, int64_t t0_ns, int64_t dur_ns,
			      struct nprof_buf *out);
void nprof__profile_rows_release(const void *self, void *snap);

/* The struct nprof_profile_ops of a table profile `rows` (a const struct
 * nprof_rows_profile *) named `name`. */
#define NPROF_ROWS_OPS(name, rows)                                                        \
	{ (name), NULL, (rows), nprof__profile_rows_collect, nprof__profile_rows_subtract, \
	  nprof__profile_rows_text, nprof__profile_rows_proto, nprof__profile_rows_release }

/* reply.c: sets an error reply: status and a one-line plain-text reason. */
void nprof__reply_error(struct nprof_reply *rep, int status, const char *fmt, ...)
	NPROF_PRINTF(3, 4);

typedef void (*nprof_handler_fn)(const struct nprof_req *req, struct nprof_reply *rep);

#endif /* NPROF_PROFILE_H */
