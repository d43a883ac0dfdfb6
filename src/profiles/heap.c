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
 * heap_region_slab.c; the block itself is served from nprof's sampled range
 * (malloc_hooks.c decides which allocations are sampled).
 *
 * Locking: no lock. The counters are sharded: a thread that owns one of
 * the first NPROF_HEAP_SHARDS states of heap_thread.c counts in its own
 * shard with plain loads and stores (it is the only writer; the count is
 * stored with release), others in a shared shard with atomic adds; chunks
 * are published with a compare-and-swap. A snapshot sums the shards,
 * reading every shard's frees before any shard's allocations, so in-use
 * counts are never negative. Capture looks in the thread's stack cache
 * (heap_thread.c) before unwinding; docs/internals/heap.md says why a hit
 * is the right stack. Handlers
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
#include "heap_thread.h"
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
/* Shard k < NPROF_HEAP_SHARDS is written by one thread at a time
 * (heap_thread.c); the last one is shared (atomic adds). */
static struct nprof_stackcounts shards[NPROF_HEAP_SHARDS + 1];
static atomic_long dropped;

/* ---------------------------------------------------------------- */
/* recording                                                         */
/* ---------------------------------------------------------------- */

/*
 * The address of the stack slot holding `ra`, the return address of the
 * exported hook: nprof is built with frame pointers, so its own frames
 * from here up to the hook form a chain, and the first of them whose
 * return address is `ra` is the hook (or the slow path it jumped to):
 * its return-address slot is the one the program's call wrote. 0 when not
 * found within a few frames (then nothing is cached).
 */
static __attribute__((noinline)) uintptr_t slot_of_ra(uintptr_t ra)
{
	uintptr_t *fp = __builtin_frame_address(0);
	uintptr_t lo = (uintptr_t)fp;
	for (int i = 0; i < 12; i++) {
		if (fp[1] == ra)
			return (uintptr_t)&fp[1];
		uintptr_t *next = (uintptr_t *)fp[0];
		if ((uintptr_t)next <= (uintptr_t)fp || (uintptr_t)next - lo > 65536)
			return 0;
		fp = next;
	}
	return 0;
}

/* Interns pcs[0..n) without nprof's own frames, and makes sure the
 * stack's shared counters exist. 0: dropped. */
static uint32_t intern(const uintptr_t *pcs, int n)
{
	uintptr_t out[NPROF_MAX_FRAMES];
	int m = 0;
	for (int i = 0; i < n && m < NPROF_MAX_FRAMES; i++)
		if (!nprof__unwind_is_self(pcs[i]))
			out[m++] = pcs[i];
	uint32_t id = nprof__stack_intern(out, m);
	if (id == 0 || nprof__stackcounts_at(&shards[NPROF_HEAP_SHARDS], id, 1) == NULL) {
		nprof__heap_note_drop();
		return 0;
	}
	return id;
}

uint32_t nprof__heap_capture(const void *ra)
{
	enum { WALK = NPROF_MAX_FRAMES + 24 };
	uintptr_t a0 = slot_of_ra((uintptr_t)ra);
	if (a0 != 0) {
		uint32_t id = nprof__heap_thread_stack_get((uintptr_t)ra, a0);
		if (id != 0)
			return id;
	}
	uintptr_t pcs[WALK], slots[WALK];
	/* The slot walk (libunwind step by step) is slower than the plain
	 * one, which has its own trace cache: only worth it to fill the
	 * stack cache. */
	int n = a0 != 0 && nprof__heap_thread_caching() ? nprof__unwind_here_slots(pcs, slots, WALK)
							 : -1;
	if (n < 0) {
		/* No step API: the plain walk, uncached. */
		n = nprof__unwind_here(pcs, WALK, 0);
		for (int i = 0; i < n; i++)
			slots[i] = 0;
	}
	/* The stack starts at the caller of the interposed function: the
	 * frame whose return address the hook saw. Not found (a tail call):
	 * at the innermost frame that is not nprof's. */
	int start = -1;
	for (int i = 0; i < n && i < 16; i++)
		if (pcs[i] == (uintptr_t)ra) {
			start = i;
			break;
		}
	if (start < 0)
		return intern(pcs, n);
	uint32_t id = intern(pcs + start, n - start);
	/* Cacheable when the hook's slot is the one the walk read `ra` from
	 * and every frame above has a known slot. */
	int ok = id != 0 && a0 != 0 && slots[start] == a0;
	for (int i = start + 1; ok && i < n; i++)
		ok = slots[i] != 0;
	if (ok)
		nprof__heap_thread_stack_put((uintptr_t)ra, a0, id, slots + start + 1, pcs + start + 1,
					     n - start - 1);
	return id;
}

/* Adds one event of `size` bytes to pair `which` (ALLOCS or FREES) of
 * stack `id`: in the thread's own shard with plain loads and stores (it
 * is the only writer), else in the shared one with atomic adds. The count
 * is stored last, with release (stackcounts.c's pairing). */
static void count(uint32_t id, int which, size_t size)
{
	/* Guard deeper than the hook's own: nested in nprof's work on this
	 * thread (malloc_hooks.c), whose own shard update may be half done. */
	int s = nprof__guard == 1 ? nprof__heap_thread_shard() : -1;
	struct nprof_counts *b;
	if (s >= 0 && (b = nprof__stackcounts_at(&shards[s], id, 1)) != NULL) {
		_Atomic int64_t *c = &b->v[which], *by = &b->v[which + 1];
		atomic_store_explicit(by, atomic_load_explicit(by, memory_order_relaxed) + (int64_t)size,
				      memory_order_relaxed);
		atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + 1,
				      memory_order_release);
		return;
	}
	b = nprof__stackcounts_at(&shards[NPROF_HEAP_SHARDS], id, 0);
	if (b == NULL)
		return;
	atomic_fetch_add_explicit(&b->v[which + 1], (int64_t)size, memory_order_relaxed);
	atomic_fetch_add_explicit(&b->v[which], 1, memory_order_release);
}

void nprof__heap_note_alloc(uint32_t id, size_t size)
{
	count(id, ALLOCS, size);
}

void nprof__heap_note_free(uint32_t id, size_t size)
{
	count(id, FREES, size);
}

/*
 * Calls fn for every stack with an allocation, in id order, with the
 * counters summed over the shards: every shard's frees before any
 * shard's allocations, so in-use values are never negative (a free
 * counted in one shard was preceded by its allocation in another).
 */
static void heap_each(nprof_counts_fn fn, void *ctx)
{
	uint32_t n = nprof__stack_count();
	for (uint32_t c0 = 0; c0 < NPROF_SC_MAX_CHUNKS && (size_t)c0 * NPROF_SC_CHUNK <= n; c0++) {
		struct nprof_counts *ch[NPROF_HEAP_SHARDS + 1];
		int k = 0;
		for (int s = 0; s <= NPROF_HEAP_SHARDS; s++) {
			struct nprof_counts *b =
				atomic_load_explicit(&shards[s].chunks[c0], memory_order_acquire);
			if (b != NULL)
				ch[k++] = b;
		}
		if (k == 0)
			continue;
		uint32_t lo = c0 == 0 ? 1 : c0 * NPROF_SC_CHUNK;
		uint32_t hi = (c0 + 1) * NPROF_SC_CHUNK - 1;
		if (hi > n)
			hi = n;
		for (uint32_t id = lo; id <= hi; id++) {
			int64_t v[4] = {0, 0, 0, 0};
			uint32_t i = id % NPROF_SC_CHUNK;
			for (int j = 0; j < k; j++) {
				v[2] += atomic_load_explicit(&ch[j][i].v[2], memory_order_acquire);
				v[3] += atomic_load_explicit(&ch[j][i].v[3], memory_order_relaxed);
			}
			for (int j = 0; j < k; j++) {
				v[0] += atomic_load_explicit(&ch[j][i].v[0], memory_order_acquire);
				v[1] += atomic_load_explicit(&ch[j][i].v[1], memory_order_relaxed);
			}
			if (v[0] != 0)
				fn(ctx, id, v);
		}
	}
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
	if (child)
		nprof__heap_thread_postfork_child();
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
	return nprof__stackcounts_rows_of(heap_each, nrows);
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
	heap_each(add_totals, t);
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
	heap_each(each_inuse, &c);
}
