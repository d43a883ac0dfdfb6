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
 * Real functions: found with dlsym on first use. When another allocator
 * was preloaded before nprof (jemalloc, tcmalloc), its definitions are the
 * global ones and nprof forwards to them (RTLD_DEFAULT); otherwise to the
 * next definition after nprof (RTLD_NEXT), glibc's or a later preload's.
 * valloc, pvalloc and reallocarray are built on memalign and realloc
 * rather than forwarded, because allocators such as jemalloc lack them and
 * glibc's would hand out glibc memory that the other allocator's free
 * cannot take. dlsym itself may calloc before the real functions are
 * known: those calls get memory from a static bootstrap pool, whose
 * blocks are never freed (free ignores them) and never reach the real free.
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
 * Two copies of nprof in one process (a program linking libnprof.a, run
 * with libnprof.so preloaded): the program's own definitions win the
 * global names, and forward with RTLD_NEXT to the preloaded copy's. Were
 * that copy to forward to the global malloc (as to a foreign allocator),
 * the two would bounce every call between them forever. Every module
 * carrying these overrides has an ELF note "nprof" (below); a copy whose
 * global malloc lies in another module with that note is *dormant*: it
 * forwards with RTLD_NEXT, never samples, and never starts (core.c),
 * while the copy that owns the names does the work (docs/internals/check.md).
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

#include <dlfcn.h>
#include <elf.h>
#include <errno.h>
#include <link.h>
#include <malloc.h>
#include <math.h>
#include <sched.h>
#include <stdatomic.h>
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
static NPROF_TLS int tls_in_dlsym;     /* this thread is resolving the real functions */
static NPROF_TLS size_t tls_watch_left; /* the countdown while RLIMIT_AS is watched */
static NPROF_TLS int tls_watching;     /* tls_watch_left holds this thread's countdown */
static NPROF_TLS size_t tls_since;     /* about the bytes allocated since the last recheck */

/* Set when another allocator was preloaded before nprof: its free is the
 * global one, so nprof must never hand out a block of its own. */
static int foreign_alloc;

/* Set when the global malloc is another copy of nprof's (a program linking
 * libnprof.a): this copy forwards to the next definition and stays idle. */
static int other_copy;

/* The mark of a module that carries nprof's overrides: an ELF note, name
 * "nprof", type NPROF_NOTE_TYPE. A note, unlike a symbol, is there whether
 * or not the executable exports anything. */
#define NPROF_NOTE_TYPE 0x6e70
__asm__(".pushsection .note.nprof,\"a\",@note\n"
	".balign 4\n"
	".long 6\n"            /* namesz: "nprof\0" */
	".long 4\n"            /* descsz */
	".long 0x6e70\n"       /* type: NPROF_NOTE_TYPE */
	".asciz \"nprof\"\n"
	".balign 4\n"
	".long 1\n"            /* desc: version of the mark */
	".balign 4\n"
	".popsection\n");

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
	if (NPROF_UNLIKELY(other_copy)) {
		tls_left = SIZE_MAX / 2;
		return 0;
	}
	/* Not configured yet (before nprof_start): the countdown stays at 0,
	 * so the very first allocation after start is looked at - rate 1 must
	 * see every one. Once configured off, look again only every MiB. */
	if (rate < 0)
		return 0;
	/* Every allocation: no draw, the countdown stays 0. */
	if (rate == 1 && !foreign_alloc)
		return 1;
	if (rate == 0 || foreign_alloc) {
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
/* real functions and the bootstrap pool                              */
/* ---------------------------------------------------------------- */

typedef void *(*malloc_fn)(size_t);
typedef void *(*calloc_fn)(size_t, size_t);
typedef void *(*realloc_fn)(void *, size_t);
typedef void (*free_fn)(void *);
typedef void *(*memalign_fn)(size_t, size_t);
typedef int (*posix_memalign_fn)(void **, size_t, size_t);
typedef size_t (*usable_fn)(void *);

static void *boot_malloc(size_t n);
static void *boot_calloc(size_t a, size_t b);
static void *boot_realloc(void *p, size_t n);
static void boot_free(void *p);
static void *boot_memalign(size_t a, size_t n);
static int boot_posix_memalign(void **pp, size_t a, size_t n);
static void *boot_aligned_alloc(size_t a, size_t n);
static size_t boot_usable(void *p);

/* Until resolved, each points at a stub that resolves first. */
static malloc_fn real_malloc = boot_malloc;
static calloc_fn real_calloc = boot_calloc;
static realloc_fn real_realloc = boot_realloc;
static free_fn real_free = boot_free;
static memalign_fn real_memalign = boot_memalign;
static posix_memalign_fn real_posix_memalign = boot_posix_memalign;
static memalign_fn real_aligned_alloc = boot_aligned_alloc;
static usable_fn real_usable = boot_usable;

static atomic_int resolve_state;       /* 0 not yet, 1 in progress, 2 done */

#define POOL_SIZE 65536
static char pool[POOL_SIZE] __attribute__((aligned(64)));
static atomic_size_t pool_used;

static int in_pool(const void *p)
{
	return (uintptr_t)p - (uintptr_t)pool < POOL_SIZE;
}

/* A zeroed block of the static pool, its size stored just before it. */
static void *pool_alloc(size_t n, size_t align)
{
	if (align < 16)
		align = 16;
	if (n > POOL_SIZE || align > 4096)
		return NULL;
	size_t need = n + 16 + align;
	size_t off = atomic_fetch_add(&pool_used, need);
	if (off + need > POOL_SIZE)
		return NULL;
	uintptr_t p = ((uintptr_t)pool + off + 16 + align - 1) & ~(uintptr_t)(align - 1);
	((size_t *)p)[-1] = n;
	return (void *)p;
}

/* The load base of the object defining `f` (ours, libc's, jemalloc's). */
static void *object_of(void *f)
{
	Dl_info info;
	return f != NULL && dladdr(f, &info) != 0 ? info.dli_fbase : NULL;
}

struct note_hunt {
	uintptr_t addr;   /* in: an address of the module wanted */
	int found;        /* out: that module has the nprof note */
};

/* dl_iterate_phdr callback: does the module holding h->addr carry the
 * nprof note? Returns 1 (stop) at that module. */
static int hunt_note(struct dl_phdr_info *info, size_t size, void *arg)
{
	(void)size;
	struct note_hunt *h = arg;
	int mine = 0;
	for (int i = 0; i < info->dlpi_phnum && !mine; i++) {
		const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
		uintptr_t lo = info->dlpi_addr + ph->p_vaddr;
		mine = ph->p_type == PT_LOAD && h->addr - lo < ph->p_memsz;
	}
	if (!mine)
		return 0;
	for (int i = 0; i < info->dlpi_phnum; i++) {
		const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
		if (ph->p_type != PT_NOTE)
			continue;
		const char *p = (const char *)(info->dlpi_addr + ph->p_vaddr);
		const char *end = p + ph->p_memsz;
		while (p + sizeof(ElfW(Nhdr)) <= end) {
			const ElfW(Nhdr) *n = (const ElfW(Nhdr) *)p;
			const char *name = p + sizeof *n;
			size_t step = sizeof *n + ((n->n_namesz + 3) & ~3u) + ((n->n_descsz + 3) & ~3u);
			if (n->n_type == NPROF_NOTE_TYPE && n->n_namesz == 6 &&
			    name + 6 <= end && memcmp(name, "nprof", 6) == 0)
				h->found = 1;
			p += step;
		}
	}
	return 1;
}

/* Non-zero when the module defining `f` carries nprof's overrides. */
static int is_nprof_module(void *f)
{
	struct note_hunt h = {(uintptr_t)f, 0};
	dl_iterate_phdr(hunt_note, &h);
	return h.found;
}

/*
 * The function to forward `name` to: the global definition when another
 * allocator owns the global names and has one, else the next one after us.
 */
static void *pick(const char *name, void *self)
{
	if (foreign_alloc) {
		void *f = dlsym(RTLD_DEFAULT, name);
		if (f != NULL && object_of(f) != self)
			return f;
	}
	return dlsym(RTLD_NEXT, name);
}

/*
 * Finds the real functions. The thread doing it may re-enter the hooks
 * (dlsym allocates): tls_in_dlsym sends those calls to the pool. Other
 * threads wait for it to finish.
 */
static void resolve(void)
{
	if (atomic_load_explicit(&resolve_state, memory_order_acquire) == 2 || tls_in_dlsym)
		return;
	int expect = 0;
	if (!atomic_compare_exchange_strong(&resolve_state, &expect, 1)) {
		while (atomic_load_explicit(&resolve_state, memory_order_acquire) != 2)
			sched_yield();
		return;
	}
	int saved = errno;
	tls_in_dlsym = 1;
	/* Another allocator preloaded before us owns the global names. */
	void *self = object_of((void *)resolve);
	void *global = dlsym(RTLD_DEFAULT, "malloc");
	/* Loaded late by `nprof attach`, the global malloc is libc's, the
	 * very one after us: not another allocator (got_patch.c binds the
	 * program's references to ours). */
	foreign_alloc = global != NULL && object_of(global) != self &&
			global != dlsym(RTLD_NEXT, "malloc");
	/* ...nor is nprof again (a program linking libnprof.a), which
	 * forwards to us: forwarding back would never end. */
	if (foreign_alloc && is_nprof_module(global)) {
		other_copy = 1;
		foreign_alloc = 0;
	}
	malloc_fn m = (malloc_fn)pick("malloc", self);
	calloc_fn c = (calloc_fn)pick("calloc", self);
	realloc_fn r = (realloc_fn)pick("realloc", self);
	free_fn f = (free_fn)pick("free", self);
	memalign_fn ma = (memalign_fn)pick("memalign", self);
	posix_memalign_fn pm = (posix_memalign_fn)pick("posix_memalign", self);
	memalign_fn aa = (memalign_fn)pick("aligned_alloc", self);
	usable_fn us = (usable_fn)pick("malloc_usable_size", self);
	if (m != NULL && c != NULL && r != NULL && f != NULL) {
		real_malloc = m;
		real_calloc = c;
		real_realloc = r;
		real_free = f;
		if (ma != NULL)
			real_memalign = ma;
		if (pm != NULL)
			real_posix_memalign = pm;
		real_aligned_alloc = aa != NULL ? aa : real_memalign;
		if (us != NULL)
			real_usable = us;
	}
	tls_in_dlsym = 0;
	if (!foreign_alloc && !other_copy)
		nprof__as_learn();
	atomic_store_explicit(&resolve_state, 2, memory_order_release);
	errno = saved;
}

/* Non-zero when the real functions are usable by this thread. */
static int ready(void)
{
	resolve();
	return atomic_load_explicit(&resolve_state, memory_order_acquire) == 2 &&
	       real_malloc != boot_malloc;
}

static void *boot_malloc(size_t n)
{
	if (!ready())
		return pool_alloc(n, 16);
	return real_malloc(n);
}

static void *boot_calloc(size_t a, size_t b)
{
	size_t n;
	if (__builtin_mul_overflow(a, b, &n)) {
		errno = ENOMEM;
		return NULL;
	}
	if (!ready())
		return pool_alloc(n, 16);
	return real_calloc(a, b);
}

static void *boot_realloc(void *p, size_t n)
{
	if (!ready()) {
		void *q = pool_alloc(n, 16);
		if (q != NULL && p != NULL)
			memcpy(q, p, ((size_t *)p)[-1] < n ? ((size_t *)p)[-1] : n);
		return q;
	}
	return real_realloc(p, n);
}

static void boot_free(void *p)
{
	if (p != NULL && ready())
		real_free(p);
}

static void *boot_memalign(size_t a, size_t n)
{
	if (!ready())
		return pool_alloc(n, a);
	if (real_memalign == boot_memalign) {
		void *p = NULL;
		int rc = real_posix_memalign(&p, a < sizeof(void *) ? sizeof(void *) : a, n);
		if (rc != 0)
			errno = rc;
		return p;
	}
	return real_memalign(a, n);
}

static int boot_posix_memalign(void **pp, size_t a, size_t n)
{
	if (!ready()) {
		*pp = pool_alloc(n, a);
		return *pp ? 0 : ENOMEM;
	}
	if (real_posix_memalign == boot_posix_memalign)
		return ENOMEM;
	return real_posix_memalign(pp, a, n);
}

static void *boot_aligned_alloc(size_t a, size_t n)
{
	return boot_memalign(a, n);
}

static size_t boot_usable(void *p)
{
	(void)p;
	return 0;
}

int nprof__heap_foreign(void)
{
	resolve();
	return foreign_alloc;
}

int nprof__heap_other_copy(void)
{
	resolve();
	return other_copy;
}

int nprof__heap_copy_behind(void)
{
	resolve();
	/* This copy owns the global malloc (it is not dormant), and the
	 * next definition after it is another copy's. */
	if (other_copy || foreign_alloc)
		return 0;
	void *next = dlsym(RTLD_NEXT, "malloc");
	return next != NULL && object_of(next) != object_of((void *)resolve) &&
	       is_nprof_module(next);
}

/* ---------------------------------------------------------------- */
/* sampled blocks                                                    */
/* ---------------------------------------------------------------- */

/* Blocks of nprof's own threads carry this stack id (heap_region.h). */
#define OWN_STACK NPROF_REGION_OWN_STACK

/* A block for one of nprof's own threads; NULL: use the real allocator. */
static void *own_alloc(size_t n, size_t align, int zero)
{
	if (foreign_alloc)
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
	if (in_pool(p))
		return ((size_t *)p)[-1];
	return real_usable(p);
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
static int decide(size_t n, int *watch)
{
	*watch = NPROF_UNLIKELY(__atomic_load_n(&nprof__as_watch, __ATOMIC_RELAXED)) &&
		 !foreign_alloc && !other_copy && !nprof__guard && near_limit(n);
	if (!*watch && !tls_watching)
		return sample_now(n);
	if (!tls_watching)
		tls_watch_left = tls_left;
	tls_watching = *watch;
	tls_left = tls_watch_left;
	int s;
	if (tls_armed && n < tls_left) {
		tls_left -= n;
		s = 0;
	} else {
		s = sample_now(n);
	}
	tls_watch_left = tls_left;
	if (*watch)
		tls_left = 0;
	return s;
}

static NOINLINE void *malloc_slow(size_t n, const void *ra)
{
	if (!ready())
		return pool_alloc(n, 16);
	if (NPROF_UNLIKELY(nprof__arena_serving)) {
		void *p = own_alloc(n, 16, 0);
		return p != NULL ? p : real_malloc(n);
	}
	int watch;
	if (decide(n, &watch)) {
		void *p = sampled_alloc(n, 16, 0, ra);
		if (p != NULL)
			return p;
	}
	void *p = real_malloc(n);
	return watch ? nprof__as_rescue(p, n, 0, real_free) : p;
}

static NOINLINE void *calloc_slow(size_t a, size_t b, size_t n, const void *ra)
{
	if (!ready())
		return pool_alloc(n, 16);
	if (NPROF_UNLIKELY(nprof__arena_serving)) {
		void *p = own_alloc(n, 16, 1);
		return p != NULL ? p : real_calloc(a, b);
	}
	int watch;
	if (decide(n, &watch)) {
		void *p = sampled_alloc(n, 16, 1, ra);
		if (p != NULL)
			return p;
	}
	void *p = real_calloc(a, b);
	return watch ? nprof__as_rescue(p, n, 1, real_free) : p;
}

/* memalign-family allocation with a valid power-of-two `a` > 16. */
static NOINLINE void *aligned_slow(size_t a, size_t n, const void *ra)
{
	if (!ready())
		return pool_alloc(n, a);
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
	if (!ready())
		return boot_realloc(p, n);
	int ours = nprof__region_owns(p), pooled = in_pool(p);
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
		q = real_realloc(p, n);
		return watch ? nprof__as_rescue(q, n, 2, real_free) : q;
	}
	if (q == NULL && (q = real_malloc(n)) == NULL)
		return NULL;
	size_t old = old_size(p);
	memcpy(q, p, old < n ? old : n);
	if (ours)
		sampled_free(p);
	else if (!pooled)
		real_free(p);
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
		return real_malloc(n);
	}
	return malloc_slow(n, RA());
}

NPROF_API void free(void *p)
{
	if (NPROF_UNLIKELY(nprof__region_owns(p))) {
		sampled_free(p);
		return;
	}
	if (NPROF_UNLIKELY(in_pool(p)))
		return;
	real_free(p);
}

NPROF_API void *calloc(size_t a, size_t b)
{
	size_t n;
	if (NPROF_UNLIKELY(__builtin_mul_overflow(a, b, &n)))
		return real_calloc(a, b); /* ENOMEM, as the real one says it */
	size_t left = tls_left;
	if (NPROF_LIKELY(n < left)) {
		tls_left = left - n;
		return real_calloc(a, b);
	}
	return calloc_slow(a, b, n, RA());
}

static void *do_realloc(void *p, size_t n, const void *ra)
{
	if (NPROF_UNLIKELY(nprof__region_owns(p) || in_pool(p)))
		return realloc_move(p, n, ra);
	if (p == NULL) {
		size_t left = tls_left;
		if (NPROF_LIKELY(n < left)) {
			tls_left = left - n;
			return real_malloc(n);
		}
		return malloc_slow(n, ra);
	}
	size_t left = tls_left;
	if (NPROF_LIKELY(n < left || n == 0)) {
		tls_left = n < left ? left - n : left;
		return real_realloc(p, n);
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
		return real_memalign(a, n);
	int done;
	void *p = aligned_common(a, n, ra, &done);
	return done ? p : real_memalign(a, n);
}

NPROF_API void *memalign(size_t a, size_t n)
{
	return do_memalign(a, n, RA());
}

NPROF_API void *aligned_alloc(size_t a, size_t n)
{
	if (!pow2(a) || a > ((size_t)1 << 40))
		return real_aligned_alloc(a, n);
	int done;
	void *p = aligned_common(a, n, RA(), &done);
	return done ? p : real_aligned_alloc(a, n);
}

NPROF_API int posix_memalign(void **pp, size_t a, size_t n)
{
	if (!pow2(a) || a % sizeof(void *) != 0 || a > ((size_t)1 << 40))
		return real_posix_memalign(pp, a, n); /* EINVAL */
	int done;
	void *p = aligned_common(a, n, RA(), &done);
	if (done) {
		*pp = p;
		return 0;
	}
	return real_posix_memalign(pp, a, n);
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
	if (NPROF_UNLIKELY(in_pool(p)))
		return ((size_t *)p)[-1];
	return real_usable(p);
}
