/*
 * malloc_hooks.c - the malloc family nprof exports: malloc calloc realloc
 * reallocarray free posix_memalign aligned_alloc memalign valloc pvalloc
 * malloc_usable_size. C++ new/delete reach these through libstdc++, so
 * they are counted once and operator new is not interposed.
 *
 * Fast path (the unsampled majority): each thread keeps a byte countdown
 * in initial-exec TLS. An allocation of n bytes smaller than the countdown
 * subtracts n and calls the real function: one TLS load, a compare, a
 * store. free() tests whether the pointer lies in the sampled range
 * (heap_region_run.c) and in the bootstrap pool: two compares, then the real
 * free. No lock, no hash probe, no errno traffic.
 *
 * Slow path (countdown crossed, about once per NPROF_HEAP_RATE bytes):
 * the allocation is sampled - its stack captured (from the thread's stack
 * cache when it can be) and interned, the block served from the sampled
 * range through the thread's slot cache (heap_thread.c; no global lock) -
 * and the next distance is drawn from an
 * exponential distribution of mean NPROF_HEAP_RATE (Go's and tcmalloc's
 * scheme; docs/internals/heap.md). Rate 1 samples everything; rate 0 and
 * the hook guard forward unrecorded.
 *
 * Real functions, the bootstrap pool, a foreign allocator and a second
 * copy of nprof: malloc_real.c.
 *
 * nprof's own threads (nprof__arena_serving: the HTTP server's, the
 * snapshot thread) get their blocks from the sampled range too, under a
 * stack id no profile shows (OWN_STACK), and every call of theirs takes
 * the slow path (their countdown stays 0). Forwarded to glibc, each of
 * those threads would make glibc create a malloc arena of its own, with
 * 64 MiB of address space reserved: about 130 MB more of the program's
 * RLIMIT_AS gone (tests/preload/rlimit_as.sh).
 *
 * Near a finite RLIMIT_AS (limit_hooks.c) every call takes the slow path
 * (tls_left stays 0, the countdown moves to tls_watch_left), so that each
 * small block glibc had to map on a page of its own can be moved into the
 * range; see decide().
 *
 * errno: the forwarded calls leave errno to the real allocator; nprof's
 * own work saves and restores it, so a successful call never changes it.
 * Nothing here is async-signal-safe (neither is malloc).
 */
#include "arena.h"
#include "base.h"
#include "heap.h"
#include "heap_region.h"
#include "heap_thread.h"
#include "hooks.h"
#include "malloc_real.h"

#include <errno.h>
#include <malloc.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define NOINLINE __attribute__((noinline))
#define RA() __builtin_return_address(0)
/* Countdown while sampling is off: the rate is looked at again after this
 * many bytes, so turning profiling on takes effect quickly. */
#define OFF_RECHECK ((size_t)1 << 20)

/* ---------------------------------------------------------------- */
/* per-thread sampling state                                          */
/* ---------------------------------------------------------------- */

static NPROF_TLS size_t tls_left;      /* bytes until the next sample */
static NPROF_TLS int tls_armed;        /* tls_left was drawn at the current rate */
static NPROF_TLS uint64_t tls_rng;
static NPROF_TLS size_t tls_watch_left; /* the countdown while RLIMIT_AS is watched */
static NPROF_TLS int tls_watching;     /* tls_watch_left holds this thread's countdown */
static NPROF_TLS size_t tls_since;     /* about the bytes allocated since the last recheck */

/* An exponential variate of mean `rate` (inverse transform). */
static size_t draw(long rate)
{
	if (rate <= 1)
		return 0;
	if (tls_rng == 0) {
		struct timespec ts;
		clock_gettime(CLOCK_MONOTONIC, &ts);
		tls_rng = ((uint64_t)ts.tv_nsec << 20) ^ (uint64_t)nprof__gettid() ^
			  (uint64_t)(uintptr_t)&tls_rng ^ 0x9e3779b97f4a7c15ULL;
	}
	/* xorshift64*: plenty for choosing sample points. */
	tls_rng ^= tls_rng >> 12;
	tls_rng ^= tls_rng << 25;
	tls_rng ^= tls_rng >> 27;
	uint64_t x = tls_rng * 2685821657736338717ULL;
	double u = ((double)(x >> 11) + 1.0) * (1.0 / 9007199254740992.0); /* (0, 1] */
	double d = -log(u) * (double)rate;
	return d < 1.0 ? 0 : (size_t)d;
}

/*
 * Called when an allocation of n bytes did not fit in the countdown.
 * Returns 1 when it is to be sampled, and re-arms the countdown.
 */
static int sample_now(size_t n)
{
	long rate = nprof__heap_rate;
	/* nprof's own allocations pass through; the countdown is left as it
	 * is, so sampling of the program's allocations stays unbiased. */
	if (nprof__guard)
		return 0;
	/* A dormant copy: every call forwards on the fast path. */
	if (NPROF_UNLIKELY(nprof__alloc_other_copy)) {
		tls_left = SIZE_MAX / 2;
		return 0;
	}
	/* Not configured yet (before nprof_start): the countdown stays at 0,
	 * so the very first allocation after start is looked at - rate 1 must
	 * see every one. Once configured off, look again only every MiB. */
	if (rate < 0)
		return 0;
	/* Every allocation: no draw, the countdown stays 0. */
	if (rate == 1 && !nprof__alloc_foreign)
		return 1;
	if (rate == 0 || nprof__alloc_foreign) {
		tls_left = OFF_RECHECK;
		tls_armed = 0;
		/* A forked worker waiting for its grace period to end: the
		 * program's allocations are where it notices (outside any
		 * malloc lock, never in a signal handler), every 64 KiB. */
		if (NPROF_UNLIKELY(nprof__follow_pending)) {
			tls_left = 65536;
			nprof__follow_poll();
		}
		return 0;
	}
	if (!tls_armed) {
		/* First look at this rate: a fresh draw decides, so a thread's
		 * first allocation is no likelier to be sampled than any. */
		int saved = errno;
		tls_armed = 1;
		tls_left = draw(rate);
		errno = saved;
		if (n < tls_left) {
			tls_left -= n;
			return 0;
		}
	}
	int saved = errno;
	tls_left = draw(rate);
	errno = saved;
	return 1;
}

/* ---------------------------------------------------------------- */
/* sampled blocks                                                    */
/* ---------------------------------------------------------------- */

/* Blocks of nprof's own threads carry this stack id (heap_region.h). */
#define OWN_STACK NPROF_REGION_OWN_STACK

/* A block for one of nprof's own threads; NULL: use the real allocator. */
static void *own_alloc(size_t n, size_t align, int zero)
{
	if (nprof__alloc_foreign)
		return NULL;
	int saved = errno;
	void *p = nprof__region_alloc(n ? n : 1, align, zero, OWN_STACK);
	errno = saved;
	return p;
}

/*
 * Serves a sampled allocation from the sampled range; NULL when it cannot
 * be recorded (the caller then uses the real allocator unrecorded).
 */
static void *sampled_alloc(size_t n, size_t align, int zero, const void *ra)
{
	int saved = errno;
	int guard = nprof__guard;
	nprof__guard = 1;
	void *p = NULL;
	uint32_t id = nprof__heap_capture(ra);
	if (id != 0) {
		p = nprof__heap_thread_alloc(n, align, zero, id);
		if (p == NULL)
			p = nprof__region_alloc(n, align, zero, id);
		if (p != NULL)
			nprof__heap_note_alloc(id, n);
		else
			nprof__heap_note_drop();
	}
	nprof__guard = guard;
	errno = saved;
	return p;
}

static void sampled_free(void *p)
{
	int saved = errno;
	uint32_t id;
	size_t size;
	int guard = nprof__guard;
	/* Nested inside nprof's own work on this thread (a signal handler
	 * freeing, or one of nprof's threads): the thread's slot cache and
	 * counter shard may be mid-update, so the locked path and the shared
	 * counters (heap.c reads the guard's depth). */
	nprof__guard = guard + 1;
	int rc = guard ? nprof__region_free(p, &id, &size) : nprof__heap_thread_free(p, &id, &size);
	if (rc == 0 && id != OWN_STACK)
		nprof__heap_note_free(id, size);
	nprof__guard = guard;
	errno = saved;
}

/* The bytes of `p` (sampled, pool or real) that a move must copy. */
static size_t old_size(void *p)
{
	if (nprof__region_owns(p))
		return nprof__region_usable(p);
	if (nprof__in_pool(p))
		return ((size_t *)p)[-1];
	return nprof__real_usable(p);
}

/* ---------------------------------------------------------------- */
/* slow paths                                                        */
/* ---------------------------------------------------------------- */

/* How often a thread measures how near RLIMIT_AS the process is. */
#define RECHECK ((size_t)4 << 20)

/*
 * While RLIMIT_AS is finite: 1 when the process is near it, and each
 * block glibc returns must be looked at. Measures again after about
 * RECHECK bytes of the thread's allocations: a slow-path call stands for
 * the sampling interval before it, a watched call for itself.
 */
static int near_limit(size_t n)
{
	long rate = nprof__heap_rate;
	size_t step = !tls_watching && rate > 1 && (size_t)rate > n ? (size_t)rate : n;
	tls_since += step;
	if (tls_since >= RECHECK) {
		tls_since = 0;
		nprof__as_recheck();
	}
	return __atomic_load_n(&nprof__as_near, __ATOMIC_RELAXED);
}

/*
 * The sampling decision of a slow-path call. Near the program's RLIMIT_AS
 * (limit_hooks.c) every call of the thread comes here - tls_left stays 0
 * - so that each block glibc returns can be looked at; the countdown then
 * lives in tls_watch_left, and *watch is set. Returns what sample_now()
 * says.
 */
static NOINLINE int decide_watched(size_t n, int *watch)
{
	/* nprof's own allocation on a program thread: forwarded unrecorded
	 * (sample_now says so), the thread's watching left as it is. */
	if (nprof__guard) {
		*watch = 0;
		return 0;
	}
	*watch = !nprof__alloc_foreign && !nprof__alloc_other_copy && near_limit(n);
	if (!*watch) {
		/* Far from the limit again: the countdown goes back. */
		if (tls_watching) {
			tls_watching = 0;
			tls_left = tls_watch_left;
			if (tls_armed && n < tls_left) {
				tls_left -= n;
				return 0;
			}
		}
		return sample_now(n);
	}
	if (!tls_watching) {
		tls_watching = 1;
		tls_watch_left = tls_left;
	}
	size_t left = tls_watch_left;
	if (NPROF_LIKELY(tls_armed && n < left)) {
		tls_watch_left = left - n;
		tls_left = 0;
		return 0;
	}
	tls_left = left;
	int s = sample_now(n);
	tls_watch_left = tls_left;
	tls_left = 0;
	return s;
}

static inline int decide(size_t n, int *watch)
{
	if (NPROF_LIKELY(!__atomic_load_n(&nprof__as_watch, __ATOMIC_RELAXED) && !tls_watching)) {
		*watch = 0;
		return sample_now(n);
	}
	return decide_watched(n, watch);
}

static NOINLINE void *malloc_slow(size_t n, const void *ra)
{
	if (!nprof__alloc_ready())
		return nprof__pool_alloc(n, 16);
	if (NPROF_UNLIKELY(nprof__arena_serving)) {
		void *p = own_alloc(n, 16, 0);
		return p != NULL ? p : nprof__real_malloc(n);
	}
	int watch;
	if (decide(n, &watch)) {
		void *p = sampled_alloc(n, 16, 0, ra);
		if (p != NULL)
			return p;
	}
	void *p = nprof__real_malloc(n);
	return watch && nprof__as_alone(p, n) ? nprof__as_rescue(p, n, 0, nprof__real_free) : p;
}

static NOINLINE void *calloc_slow(size_t a, size_t b, size_t n, const void *ra)
{
	if (!nprof__alloc_ready())
		return nprof__pool_alloc(n, 16);
	if (NPROF_UNLIKELY(nprof__arena_serving)) {
		void *p = own_alloc(n, 16, 1);
		return p != NULL ? p : nprof__real_calloc(a, b);
	}
	int watch;
	if (decide(n, &watch)) {
		void *p = sampled_alloc(n, 16, 1, ra);
		if (p != NULL)
			return p;
	}
	void *p = nprof__real_calloc(a, b);
	return watch && nprof__as_alone(p, n) ? nprof__as_rescue(p, n, 1, nprof__real_free) : p;
}

/* memalign-family allocation with a valid power-of-two `a` > 16. */
static NOINLINE void *aligned_slow(size_t a, size_t n, const void *ra)
{
	if (!nprof__alloc_ready())
		return nprof__pool_alloc(n, a);
	if (NPROF_UNLIKELY(nprof__arena_serving))
		return own_alloc(n, a, 0);
	if (sample_now(n))
		return sampled_alloc(n, a, 0, ra);
	return NULL;
}

/*
 * realloc of a sampled or pool block, or of a real one whose new size is
 * sampled: the block moves (a sampled block never changes in place, so
 * its record stays exact).
 */
static NOINLINE void *realloc_move(void *p, size_t n, const void *ra)
{
	if (!nprof__alloc_ready())
		return nprof__real_realloc(p, n); /* the bootstrap stub until resolved */
	int ours = nprof__region_owns(p), pooled = nprof__in_pool(p);
	if (n == 0 && (ours || pooled)) {
		/* glibc's rule: realloc(p, 0) frees p and returns NULL. */
		if (ours)
			sampled_free(p);
		return NULL;
	}
	void *q = NULL;
	int watch = 0;
	if (NPROF_UNLIKELY(nprof__arena_serving))
		q = n > 0 ? own_alloc(n, 16, 0) : NULL;
	else if (n > 0 && decide(n, &watch))
		q = sampled_alloc(n, 16, 0, ra);
	if (q == NULL && !ours && !pooled) {
		q = nprof__real_realloc(p, n);
		return watch && nprof__as_alone(q, n) ? nprof__as_rescue(q, n, 2, nprof__real_free) : q;
	}
	if (q == NULL && (q = nprof__real_malloc(n)) == NULL)
		return NULL;
	size_t old = old_size(p);
	memcpy(q, p, old < n ? old : n);
	if (ours)
		sampled_free(p);
	else if (!pooled)
		nprof__real_free(p);
	return q;
}

/* ---------------------------------------------------------------- */
/* the exported functions                                            */
/* ---------------------------------------------------------------- */

/* own 1: makes every allocation of the calling thread (one of nprof's
 * own, or nprof_start's caller while it starts) take the slow path, where
 * own_alloc() serves it. own 0: back to sampling, with a fresh draw, so
 * the next allocation is no likelier to be sampled than any. */
void nprof__heap_thread_own(int own)
{
	tls_left = 0;
	if (!own)
		tls_armed = 0;
}

NPROF_API void *malloc(size_t n)
{
	size_t left = tls_left;
	if (NPROF_LIKELY(n < left)) {
		tls_left = left - n;
		return nprof__real_malloc(n);
	}
	return malloc_slow(n, RA());
}

NPROF_API void free(void *p)
{
	if (NPROF_UNLIKELY(nprof__region_owns(p))) {
		sampled_free(p);
		return;
	}
	if (NPROF_UNLIKELY(nprof__in_pool(p)))
		return;
	nprof__real_free(p);
}

NPROF_API void *calloc(size_t a, size_t b)
{
	size_t n;
	if (NPROF_UNLIKELY(__builtin_mul_overflow(a, b, &n)))
		return nprof__real_calloc(a, b); /* ENOMEM, as the real one says it */
	size_t left = tls_left;
	if (NPROF_LIKELY(n < left)) {
		tls_left = left - n;
		return nprof__real_calloc(a, b);
	}
	return calloc_slow(a, b, n, RA());
}

static void *do_realloc(void *p, size_t n, const void *ra)
{
	if (NPROF_UNLIKELY(nprof__region_owns(p) || nprof__in_pool(p)))
		return realloc_move(p, n, ra);
	if (p == NULL) {
		size_t left = tls_left;
		if (NPROF_LIKELY(n < left)) {
			tls_left = left - n;
			return nprof__real_malloc(n);
		}
		return malloc_slow(n, ra);
	}
	size_t left = tls_left;
	if (NPROF_LIKELY(n < left || n == 0)) {
		tls_left = n < left ? left - n : left;
		return nprof__real_realloc(p, n);
	}
	return realloc_move(p, n, ra);
}

NPROF_API void *realloc(void *p, size_t n)
{
	return do_realloc(p, n, RA());
}

NPROF_API void *reallocarray(void *p, size_t a, size_t b)
{
	size_t n;
	if (__builtin_mul_overflow(a, b, &n)) {
		errno = ENOMEM;
		return NULL;
	}
	return do_realloc(p, n, RA());
}

/*
 * memalign-family core. `a` must already be a power of two. Samples like
 * malloc; an unsampled call goes to `fwd`.
 */
static void *aligned_common(size_t a, size_t n, const void *ra, int *done)
{
	size_t left = tls_left;
	*done = 0;
	if (NPROF_LIKELY(n < left)) {
		tls_left = left - n;
		return NULL;
	}
	void *p = aligned_slow(a, n, ra);
	*done = p != NULL;
	return p;
}

static int pow2(size_t a)
{
	return a != 0 && (a & (a - 1)) == 0;
}

static void *do_memalign(size_t a, size_t n, const void *ra)
{
	/* Odd alignments keep the real allocator's own rules (rounding or
	 * EINVAL): forward them unsampled. */
	if (!pow2(a) || a > ((size_t)1 << 40))
		return nprof__real_memalign(a, n);
	int done;
	void *p = aligned_common(a, n, ra, &done);
	return done ? p : nprof__real_memalign(a, n);
}

NPROF_API void *memalign(size_t a, size_t n)
{
	return do_memalign(a, n, RA());
}

NPROF_API void *aligned_alloc(size_t a, size_t n)
{
	if (!pow2(a) || a > ((size_t)1 << 40))
		return nprof__real_aligned_alloc(a, n);
	int done;
	void *p = aligned_common(a, n, RA(), &done);
	return done ? p : nprof__real_aligned_alloc(a, n);
}

NPROF_API int posix_memalign(void **pp, size_t a, size_t n)
{
	if (!pow2(a) || a % sizeof(void *) != 0 || a > ((size_t)1 << 40))
		return nprof__real_posix_memalign(pp, a, n); /* EINVAL */
	int done;
	void *p = aligned_common(a, n, RA(), &done);
	if (done) {
		*pp = p;
		return 0;
	}
	return nprof__real_posix_memalign(pp, a, n);
}

static size_t page_size(void)
{
	static size_t ps;
	if (ps == 0) {
		int saved = errno;
		long v = sysconf(_SC_PAGESIZE);
		ps = v > 0 ? (size_t)v : 4096;
		errno = saved;
	}
	return ps;
}

NPROF_API void *valloc(size_t n)
{
	return do_memalign(page_size(), n, RA());
}

NPROF_API void *pvalloc(size_t n)
{
	size_t ps = page_size();
	if (n > SIZE_MAX - ps) {
		errno = ENOMEM;
		return NULL;
	}
	/* glibc: rounded up to whole pages, and at least one. */
	size_t r = n == 0 ? ps : (n + ps - 1) & ~(ps - 1);
	return do_memalign(ps, r, RA());
}

NPROF_API size_t malloc_usable_size(void *p)
{
	if (p == NULL)
		return 0;
	if (NPROF_UNLIKELY(nprof__region_owns(p)))
		return nprof__region_usable(p);
	if (NPROF_UNLIKELY(nprof__in_pool(p)))
		return ((size_t *)p)[-1];
	return nprof__real_usable(p);
}
