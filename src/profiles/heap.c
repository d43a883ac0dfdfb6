/*
 * heap.c - the heap and allocs profiles: sampling state, per-stack
 * counters, /debug/pprof/heap and /debug/pprof/allocs (proto, debug=1
 * text, seconds=N deltas), and the heap files NPROF_OUT asks for at exit.
 *
 * Data: one bucket of four counters (allocations, bytes allocated, frees,
 * bytes freed; raw sampled values) per interned stack id. Stack ids are
 * dense (stacks.c), so buckets live in an array indexed by id, allocated
 * from the arena in chunks of 4096 as ids appear. Which bucket a live
 * block belongs to, and its size, are kept beside the block by
 * heap_region.c; the block itself is served from nprof's sampled range
 * (malloc_hooks.c decides which allocations are sampled).
 *
 * Locking: counters are updated with relaxed atomic adds by the hooks, no
 * lock; chunks are published with a compare-and-swap. A snapshot reads
 * frees before allocations, so in-use counts are never negative. Handlers
 * run on nprof's HTTP threads (hook guard raised). Nothing here is
 * async-signal-safe.
 *
 * Values in the proto are un-sampled per bucket as Go's scaleHeapSample
 * does: scale = 1 / (1 - exp(-avg_size / rate)), where avg_size is the
 * bucket's bytes over its count; rate 1 is exact. The debug=1 text carries
 * the raw sampled counts under Go's "@ heap/<2*rate>" header, which tells
 * pprof to un-sample them itself. docs/internals/heap.md has the maths.
 */
#include "arena.h"
#include "base.h"
#include "buf.h"
#include "frames.h"
#include "heap.h"
#include "heap_region.h"
#include "nprof.h"
#include "pprof.h"
#include "procmaps.h"
#include "profile.h"
#include "stacks.h"
#include "symbolize.h"

#include <errno.h>
#include <math.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* Counters per stack, as pairs (stackcounts.c): allocations and their
 * bytes, frees and theirs. */
enum { ALLOCS, ALLOC_BYTES, FREES, FREE_BYTES };

volatile long nprof__heap_rate = -1;  /* -1: not configured yet */
static long profile_rate;               /* the configured rate, for the profile */
static struct nprof_stackcounts counts;
static atomic_long dropped;

/* ---------------------------------------------------------------- */
/* recording                                                         */
/* ---------------------------------------------------------------- */

uint32_t nprof__heap_capture(const void *ra)
{
	uintptr_t pcs[NPROF_MAX_FRAMES + 8];
	int n = nprof__unwind_here(pcs, NPROF_MAX_FRAMES + 8, 0);
	int start = -1;
	/* The stack starts at the caller of the interposed function: the
	 * frame whose return address the hook saw. */
	for (int i = 0; i < n && i < 8; i++)
		if (pcs[i] == (uintptr_t)ra) {
			start = i;
			break;
		}
	/* Not found (a tail call): nprof's own frames are already gone
	 * (nprof__unwind_here drops them), so start at the innermost. */
	if (start < 0)
		start = 0;
	int m = n - start;
	if (m > NPROF_MAX_FRAMES)
		m = NPROF_MAX_FRAMES;
	uint32_t id = nprof__stack_intern(pcs + start, m);
	if (id == 0 || nprof__stackcounts_at(&counts, id, 1) == NULL) {
		nprof__heap_note_drop();
		return 0;
	}
	return id;
}

void nprof__heap_note_alloc(uint32_t id, size_t size)
{
	struct nprof_counts *b = nprof__stackcounts_at(&counts, id, 0);
	atomic_fetch_add_explicit(&b->v[ALLOC_BYTES], (int64_t)size, memory_order_relaxed);
	atomic_fetch_add_explicit(&b->v[ALLOCS], 1, memory_order_release);
}

void nprof__heap_note_free(uint32_t id, size_t size)
{
	struct nprof_counts *b = nprof__stackcounts_at(&counts, id, 0);
	if (b == NULL)
		return;
	atomic_fetch_add_explicit(&b->v[FREE_BYTES], (int64_t)size, memory_order_relaxed);
	atomic_fetch_add_explicit(&b->v[FREES], 1, memory_order_release);
}

void nprof__heap_note_drop(void)
{
	atomic_fetch_add_explicit(&dropped, 1, memory_order_relaxed);
}

long nprof__heap_dropped(void)
{
	return atomic_load_explicit(&dropped, memory_order_relaxed);
}

/* ---------------------------------------------------------------- */
/* life cycle                                                        */
/* ---------------------------------------------------------------- */

void nprof__heap_init(int foreign_malloc)
{
	long rate = nprof__cfg.heap_rate;
	profile_rate = rate;
	/* The sampled range also serves nprof's own threads (malloc_hooks.c),
	 * so it exists even with heap profiling off; it maps nothing yet. */
	if (!foreign_malloc)
		nprof__region_init();
	if (rate <= 0) {
		nprof__heap_rate = 0;
		return;
	}
	if (foreign_malloc) {
		nprof__log("another malloc was preloaded before nprof; the heap profile stays "
			   "empty (put libnprof.so first in LD_PRELOAD to profile it)");
		nprof__heap_rate = 0;
		return;
	}
	if (nprof__region_init() < 0) {
		nprof__log("cannot reserve address space for sampled blocks; heap profiling off");
		nprof__heap_rate = 0;
		return;
	}
	nprof__heap_rate = rate;
}

void nprof__heap_prefork(void)
{
	nprof__region_prefork();
}

void nprof__heap_postfork(int child)
{
	nprof__region_postfork();
	/* A child is dormant: it frees the parent's sampled blocks correctly
	 * (the range is inherited) but records nothing new. */
	if (child)
		nprof__heap_rate = 0;
}

/* ---------------------------------------------------------------- */
/* snapshots                                                         */
/* ---------------------------------------------------------------- */

/* Every stack with an allocation, in id order; arena memory. */
static struct nprof_counts_row *snapshot(size_t *nrows)
{
	return nprof__stackcounts_rows(&counts, nrows);
}

/* `now` minus `base` for the cumulative (alloc) values; rows of `now`
 * with nothing allocated in between and nothing in use are dropped. */
static size_t subtract(struct nprof_counts_row *now, size_t n, const struct nprof_counts_row *base, size_t nb)
{
	size_t j = 0, out = 0;
	for (size_t i = 0; i < n; i++) {
		struct nprof_counts_row r = now[i];
		while (j < nb && base[j].id < r.id)
			j++;
		if (j < nb && base[j].id == r.id) {
			r.v[ALLOCS] -= base[j].v[ALLOCS];
			r.v[ALLOC_BYTES] -= base[j].v[ALLOC_BYTES];
			/* In use stays absolute: shift frees with allocs. */
			r.v[FREES] -= base[j].v[ALLOCS];
			r.v[FREE_BYTES] -= base[j].v[ALLOC_BYTES];
		}
		if (r.v[ALLOCS] > 0 || r.v[ALLOCS] - r.v[FREES] > 0)
			now[out++] = r;
	}
	return out;
}

long nprof__heap_count(void)
{
	size_t n = 0;
	struct nprof_counts_row *rows = snapshot(&n);
	nprof__arena_free(rows);
	return (long)n;
}

/* ---------------------------------------------------------------- */
/* output                                                            */
/* ---------------------------------------------------------------- */

/* Go's scaleHeapSample, except that rate 1 is exact even for size 0. */
static void unsample(int64_t count, int64_t bytes, long rate, int64_t *oc, int64_t *ob)
{
	if (rate <= 1) {
		*oc = count;
		*ob = bytes;
		return;
	}
	if (count <= 0 || bytes <= 0) {
		*oc = *ob = 0;
		return;
	}
	double avg = (double)bytes / (double)count;
	double scale = 1.0 / (1.0 - exp(-avg / (double)rate));
	*oc = (int64_t)((double)count * scale);
	*ob = (int64_t)((double)bytes * scale);
}

static int build_proto(const struct nprof_counts_row *rows, size_t n, const char *default_type,
		       int64_t t0, int64_t dur, struct nprof_buf *out)
{
	static const struct nprof_value_type types[] = {
		{"alloc_objects", "count"}, {"alloc_space", "bytes"},
		{"inuse_objects", "count"}, {"inuse_space", "bytes"},
	};
	char comment[128];
	long drops = nprof__heap_dropped() + nprof__stack_dropped();
	snprintf(comment, sizeof comment, "nprof: %ld heap samples dropped (nprof memory full)",
		 drops);
	struct nprof_profile_desc d = {
		.sample_types = types, .n_sample_types = 4,
		.period_type = {"space", "bytes"}, .period = profile_rate,
		.default_sample_type = default_type,
		.time_nanos = t0, .duration_nanos = dur,
		.comment = drops > 0 ? comment : NULL,
	};
	struct nprof_pb *pb = nprof__pb_new(&d);
	if (pb == NULL)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		const struct nprof_counts_row *r = &rows[i];
		int64_t v[4];
		unsample(r->v[ALLOCS], r->v[ALLOC_BYTES], profile_rate, &v[0], &v[1]);
		unsample(r->v[ALLOCS] - r->v[FREES], r->v[ALLOC_BYTES] - r->v[FREE_BYTES], profile_rate, &v[2],
			 &v[3]);
		/* Go labels each sample with its block size. */
		struct nprof_label l = {.key = "bytes",
					.num = r->v[ALLOCS] > 0 ? r->v[ALLOC_BYTES] / r->v[ALLOCS] : 0};
		int npcs;
		const uintptr_t *pcs = nprof__stack_get(r->id, &npcs);
		if (nprof__pb_add(pb, pcs, npcs, v, &l, 1) < 0) {
			nprof__pb_free(pb);
			return -ENOMEM;
		}
	}
	return nprof__pb_finish(pb, out);
}

static int by_inuse_desc(const void *a, const void *b)
{
	const struct nprof_counts_row *x = a, *y = b;
	int64_t ix = x->v[ALLOC_BYTES] - x->v[FREE_BYTES], iy = y->v[ALLOC_BYTES] - y->v[FREE_BYTES];
	return ix < iy ? 1 : ix > iy ? -1 : (x->id > y->id) - (x->id < y->id);
}

/* Go's legacy text (runtime/pprof writeHeapInternal, debug=1). */
static void build_text(struct nprof_counts_row *rows, size_t n, struct nprof_buf *b)
{
	int64_t t[4] = {0, 0, 0, 0};
	for (size_t i = 0; i < n; i++) {
		t[0] += rows[i].v[ALLOCS];
		t[1] += rows[i].v[ALLOC_BYTES];
		t[2] += rows[i].v[FREES];
		t[3] += rows[i].v[FREE_BYTES];
	}
	qsort(rows, n, sizeof *rows, by_inuse_desc);
	nprof__buf_printf(b, "heap profile: %lld: %lld [%lld: %lld] @ heap/%ld\n",
			  (long long)(t[0] - t[2]), (long long)(t[1] - t[3]), (long long)t[0],
			  (long long)t[1], 2 * profile_rate);
	struct nprof_symtab *st = nprof__sym_open();
	for (size_t i = 0; i < n; i++) {
		const struct nprof_counts_row *r = &rows[i];
		int npcs;
		const uintptr_t *pcs = nprof__stack_get(r->id, &npcs);
		nprof__buf_printf(b, "%lld: %lld [%lld: %lld] @", (long long)(r->v[ALLOCS] - r->v[FREES]),
				  (long long)(r->v[ALLOC_BYTES] - r->v[FREE_BYTES]), (long long)r->v[ALLOCS],
				  (long long)r->v[ALLOC_BYTES]);
		for (int k = 0; k < npcs; k++)
			nprof__buf_printf(b, " %#lx", (unsigned long)pcs[k]);
		nprof__buf_putc(b, '\n');
		nprof__frames_print_text(b, st, pcs, npcs);
		nprof__buf_putc(b, '\n');
	}
	if (st != NULL)
		nprof__sym_close(st);
	/* pprof skips comment lines; people read them. */
	nprof__buf_printf(b, "\n# nprof heap\n# SampleRate = %ld\n# InUseBytesSampled = %lld\n"
			  "# DroppedSamples = %ld\n# ArenaBytes = %zu\n", profile_rate,
			  (long long)(t[1] - t[3]), nprof__heap_dropped(), nprof__arena_used());
}



/* The heap profile and the allocs profile are the same rows; they differ
 * only in the sample type pprof shows by default. */
struct heap_view {
	const char *default_type;       /* NULL: inuse_space, pprof's default */
};

static struct nprof_counts_row *rows_snapshot(const void *self, size_t *n)
{
	(void)self;
	return snapshot(n);
}

static size_t rows_subtract(const void *self, struct nprof_counts_row *now, size_t n,
			    const struct nprof_counts_row *base, size_t nb)
{
	(void)self;
	return subtract(now, n, base, nb);
}

static void rows_text(const void *self, struct nprof_counts_row *rows, size_t n, struct nprof_buf *b)
{
	(void)self;
	build_text(rows, n, b);
}

static int rows_proto(const void *self, struct nprof_counts_row *rows, size_t n, int64_t t0,
		      int64_t dur, struct nprof_buf *out)
{
	const struct heap_view *v = self;
	return build_proto(rows, n, v->default_type, t0, dur, out);
}

static const struct heap_view heap_view = {NULL}, allocs_view = {"alloc_space"};

static const struct nprof_rows_profile heap_rows = {
	&heap_view, rows_snapshot, rows_subtract, rows_text, rows_proto,
};
static const struct nprof_rows_profile allocs_rows = {
	&allocs_view, rows_snapshot, rows_subtract, rows_text, rows_proto,
};

static const struct nprof_profile_ops heap_ops = NPROF_ROWS_OPS("heap", &heap_rows);
static const struct nprof_profile_ops allocs_ops = NPROF_ROWS_OPS("allocs", &allocs_rows);

void nprof__heap_handle(const struct nprof_req *req, struct nprof_reply *rep)
{
	nprof__profile_serve(&heap_ops, req, rep);
}

void nprof__allocs_handle(const struct nprof_req *req, struct nprof_reply *rep)
{
	nprof__profile_serve(&allocs_ops, req, rep);
}

/* ---------------------------------------------------------------- */
/* totals for /metrics (metrics.c)                                   */
/* ---------------------------------------------------------------- */

/*
 * Process-wide totals, each the sum over stacks of the same un-sampled
 * estimate the heap profile reports, so that /metrics and a heap profile
 * taken at the same moment agree. Reads the counters without allocating
 * (a scrape must not grow nprof's memory); frees are read before
 * allocations, as snapshot() does, so in-use values are never negative.
 * The alloc totals never decrease (the estimate count * g(avg) grows with
 * every sample; docs/internals/metrics.md), as a Prometheus counter must.
 */
static void add_totals(void *ctx, uint32_t id, const int64_t v[4])
{
	struct nprof_heap_totals *t = ctx;
	int64_t c, b;
	(void)id;
	unsample(v[ALLOCS], v[ALLOC_BYTES], profile_rate, &c, &b);
	t->alloc_objects += c;
	t->alloc_bytes += b;
	unsample(v[ALLOCS] - v[FREES], v[ALLOC_BYTES] - v[FREE_BYTES], profile_rate, &c, &b);
	t->inuse_objects += c;
	t->inuse_bytes += b;
}

void nprof__heap_totals(struct nprof_heap_totals *t)
{
	memset(t, 0, sizeof *t);
	nprof__stackcounts_each(&counts, add_totals, t);
}

/*
 * For the leak snapshots (leaks.c): calls fn(ctx, stack, bytes, samples)
 * for every stack that has live sampled blocks now, with the in-use bytes
 * un-sampled exactly as the heap profile's inuse_space, so that
 * /debug/pprof/leaks and the heap profile agree, the number of sampled
 * blocks alive (the evidence: each is one observation) and of sampled
 * blocks ever allocated there (births: what survived of them tells a
 * leak from a cache that turns over). Reads the counters
 * lock-free like a profile does and allocates nothing. Not for signal
 * handlers (fn is whatever the caller does).
 */
struct inuse_ctx {
	void (*fn)(void *ctx, uint32_t stack, int64_t bytes, int64_t samples, int64_t births);
	void *ctx;
};

static void each_inuse(void *arg, uint32_t id, const int64_t v[4])
{
	const struct inuse_ctx *c = arg;
	if (v[ALLOCS] - v[FREES] <= 0)
		return;
	int64_t objects, bytes;
	unsample(v[ALLOCS] - v[FREES], v[ALLOC_BYTES] - v[FREE_BYTES], profile_rate, &objects,
		 &bytes);
	(void)objects;
	if (bytes > 0)
		c->fn(c->ctx, id, bytes, v[ALLOCS] - v[FREES], v[ALLOCS]);
}

void nprof__heap_each_inuse(void (*fn)(void *ctx, uint32_t stack, int64_t bytes,
				       int64_t samples, int64_t births), void *ctx)
{
	struct inuse_ctx c = {fn, ctx};
	nprof__stackcounts_each(&counts, each_inuse, &c);
}
