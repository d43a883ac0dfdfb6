/*
 * arena.c - nprof's own memory, from mmap, never from the host's malloc.
 *
 * nprof must not allocate through the allocator it is profiling: that would
 * recurse into its own hooks, distort the program's heap, and break when
 * the host preloads jemalloc or tcmalloc. So every table, sample and
 * response buffer of nprof comes from here.
 *
 * Shape: size classes from 16 B to 64 KiB, four per doubling (16, 32, 48,
 * 64, 80, 96, 112, 128, 160, 192, 224, 256, 320, ...: multiples of 16, so
 * blocks carved one after another stay 16-byte aligned), each a free list
 * fed from 1 MiB slabs; larger blocks get their own mapping (grown by
 * mremap). The quarter steps cut the rounding waste from up to half a
 * block (powers of two) to up to a fifth: an interned stack of 23 frames
 * (216 bytes with the header) takes 224 bytes instead of 256. Every block
 * carries a 16-byte header with its class (or its mapping length), so free
 * needs no lookup. The bound (NPROF_ARENA_MB, default 512 MiB) counts bytes
 * handed out; past it allocations fail and the caller drops its sample and
 * counts the drop.
 *
 * Two budgets: what program threads record (samples, stacks, tables) and
 * what nprof's own threads use to serve (building responses, symbols,
 * snapshots). Serving never competes with sample storage: with the sample
 * budget full, every endpoint still answers with a complete profile that
 * counts its drops (tests/integration/arena_full.sh). A thread is a
 * serving thread when nprof__arena_serving is set: nprof's own threads
 * (hooks/preload.c) and nprof_write_profile() callers. The serving budget is
 * max(64 MiB, the sample bound / 2); each block's header says which
 * budget it is charged to, so a free credits the right one.
 *
 * Locking: one mutex. Not async-signal-safe: signal handlers use memory
 * prepared in advance. fork: nprof__arena_prefork() takes the lock so a
 * child never inherits it held by a thread that no longer exists.
 */
#include "arena.h"
#include "base.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/mman.h>

#define MAX_SHIFT 16                /* 64 KiB */
#define NCLASSES 44
#define SLAB_SIZE (1u << 20)
#define HDR 16
#define BIG_CLASS 0xffu
#define MAGIC 0x6e70u               /* "np": catches frees of foreign pointers */

struct hdr {
	uint16_t magic;
	uint8_t cls;                /* size class index, or BIG_CLASS */
	uint8_t pool;               /* 0: samples, 1: serving */
	uint8_t pad[4];
	size_t maplen;              /* mapping length for BIG_CLASS blocks */
};

struct free_block {
	struct free_block *next;
};

static pthread_mutex_t arena_lock = PTHREAD_MUTEX_INITIALIZER;

/*
 * arena_lock is taken with the hook guard set. In a program linked with
 * nprof, and in one that preloads it, nprof's own pthread_mutex_lock is
 * the override: a contended arena_lock would otherwise be recorded in the
 * block and mutex profiles, and recording interns a stack, which takes
 * arena_lock again on the same thread - a self-deadlock (seen when a
 * thread's exit freed its start block while the snapshot thread trimmed).
 */
static int lock_arena(void)
{
	int guard = nprof__guard;
	nprof__guard = 1;
	pthread_mutex_lock(&arena_lock);
	return guard;
}

static void unlock_arena(int guard)
{
	pthread_mutex_unlock(&arena_lock);
	nprof__guard = guard;
}
static struct free_block *free_lists[NCLASSES];
static char *slab_cur, *slab_end;
static atomic_size_t arena_used;
static size_t arena_bound = (size_t)512 << 20;
#define SERVE_MIN ((size_t)64 << 20)
static atomic_size_t serve_used;
NPROF_TLS int nprof__arena_serving;

static size_t serve_bound(void)
{
	return arena_bound / 2 > SERVE_MIN ? arena_bound / 2 : SERVE_MIN;
}

static void *map_anon(size_t len);

/*
 * Freed big mappings kept for reuse. A profile request builds tables of
 * megabytes and frees them; mapping fresh pages for the next request and
 * faulting them in again was a sixth of the CPU time of serving a heap
 * profile of 50,000 stacks. Mappings of MCACHE_MIN to MCACHE_MAX bytes are
 * kept, at most MCACHE_SLOTS of them and MCACHE_BYTES in all (under
 * arena_lock); nprof__arena_trim() gives back each one unused for a while
 * (the snapshot thread's tick), so an idle process holds none.
 */
#define MCACHE_SLOTS 8
#define MCACHE_MIN ((size_t)256 << 10)
#define MCACHE_MAX ((size_t)16 << 20)
#define MCACHE_BYTES ((size_t)32 << 20)
static struct {
	void *p;
	size_t len;
	int64_t put_ns;
} mcache[MCACHE_SLOTS];
static size_t mcache_bytes;

/* A cached mapping of at least len bytes (and at most twice that), the
 * smallest; NULL when none. Lock held. */
static void *mcache_take(size_t len, size_t *got)
{
	int best = -1;
	for (int i = 0; i < MCACHE_SLOTS; i++)
		if (mcache[i].p != NULL && mcache[i].len >= len && mcache[i].len / 2 <= len &&
		    (best < 0 || mcache[i].len < mcache[best].len))
			best = i;
	if (best < 0)
		return NULL;
	void *p = mcache[best].p;
	*got = mcache[best].len;
	mcache[best].p = NULL;
	mcache_bytes -= *got;
	return p;
}

/* Keeps a freed mapping; 0 when it does not fit (the caller unmaps it).
 * Lock held. */
static int mcache_put(void *p, size_t len)
{
	if (len < MCACHE_MIN || len > MCACHE_MAX || mcache_bytes + len > MCACHE_BYTES)
		return 0;
	for (int i = 0; i < MCACHE_SLOTS; i++)
		if (mcache[i].p == NULL) {
			mcache[i].p = p;
			mcache[i].len = len;
			mcache[i].put_ns = nprof__mono_ns();
			mcache_bytes += len;
			return 1;
		}
	return 0;
}

void nprof__arena_trim(int64_t idle_ns)
{
	void *gone[MCACHE_SLOTS];
	size_t glen[MCACHE_SLOTS];
	int n = 0;
	int64_t now = nprof__mono_ns();
	int guard = lock_arena();
	for (int i = 0; i < MCACHE_SLOTS; i++)
		if (mcache[i].p != NULL && now - mcache[i].put_ns >= idle_ns) {
			gone[n] = mcache[i].p;
			glen[n++] = mcache[i].len;
			mcache_bytes -= mcache[i].len;
			mcache[i].p = NULL;
		}
	unlock_arena(guard);
	for (int i = 0; i < n; i++)
		munmap(gone[i], glen[i]);
}

size_t nprof__arena_cached(void)
{
	int guard = lock_arena();
	size_t b = mcache_bytes;
	unlock_arena(guard);
	return b;
}

/* A big block of at least maplen bytes: a cached mapping, zeroed, or a
 * fresh one; its length in *got. */
static void *big_map(size_t maplen, size_t *got)
{
	int guard = lock_arena();
	void *p = mcache_take(maplen, got);
	unlock_arena(guard);
	if (p != NULL) {
		memset(p, 0, *got);
		return p;
	}
	*got = maplen;
	return map_anon(maplen);
}

/* Unmaps a big block, or keeps it for reuse. */
static void big_unmap(void *p, size_t len)
{
	int guard = lock_arena();
	int kept = mcache_put(p, len);
	unlock_arena(guard);
	if (!kept)
		munmap(p, len);
}

static void *map_anon(size_t len)
{
	void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	return p == MAP_FAILED ? NULL : p;
}

/* The block size of each class, header included. */
static const uint32_t class_sz[NCLASSES] = {
	16, 32, 48, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320, 384, 448, 512, 640, 768,
	896, 1024, 1280, 1536, 1792, 2048, 2560, 3072, 3584, 4096, 5120, 6144, 7168, 8192,
	10240, 12288, 14336, 16384, 20480, 24576, 28672, 32768, 40960, 49152, 57344, 65536,
};

/* The smallest class holding `total` bytes (at most 64 KiB): a binary
 * search, since there are four classes per doubling. */
static int class_of(size_t total)
{
	int lo = 0, hi = NCLASSES - 1;
	while (lo < hi) {
		int mid = (lo + hi) / 2;
		if (class_sz[mid] < total)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* Carves one block of class `cls` from the current slab; lock held. */
static void *carve(int cls)
{
	size_t sz = class_sz[cls];
	if (slab_cur == NULL || (size_t)(slab_end - slab_cur) < sz) {
		/* The tail of the old slab is abandoned: at most 64 KiB. */
		char *s = map_anon(SLAB_SIZE);
		if (s == NULL)
			return NULL;
		slab_cur = s;
		slab_end = s + SLAB_SIZE;
	}
	void *b = slab_cur;
	slab_cur += sz;
	return b;
}

static int alloc_block(size_t size, void **out)
{
	size_t total = size + HDR;
	int pool = nprof__arena_serving != 0;
	atomic_size_t *used = pool ? &serve_used : &arena_used;
	size_t bound = pool ? serve_bound() : arena_bound;
	if (size > ((size_t)1 << 40))
		return -ENOMEM;
	if (total <= ((size_t)1 << MAX_SHIFT)) {
		int cls = class_of(total);
		size_t sz = class_sz[cls];
		if (atomic_load_explicit(used, memory_order_relaxed) + sz > bound)
			return -ENOMEM;
		int guard = lock_arena();
		struct hdr *h = (struct hdr *)free_lists[cls];
		if (h != NULL)
			free_lists[cls] = ((struct free_block *)h)->next;
		else
			h = carve(cls);
		unlock_arena(guard);
		if (h == NULL)
			return -ENOMEM;
		memset(h, 0, sz);
		h->magic = MAGIC;
		h->cls = (uint8_t)cls;
		h->pool = (uint8_t)pool;
		atomic_fetch_add_explicit(used, sz, memory_order_relaxed);
		*out = (char *)h + HDR;
		return 0;
	}
	size_t maplen = (total + 4095) & ~(size_t)4095;
	if (atomic_load_explicit(used, memory_order_relaxed) + maplen > bound)
		return -ENOMEM;
	struct hdr *h = big_map(maplen, &maplen);
	if (h == NULL)
		return -ENOMEM;
	h->magic = MAGIC;
	h->cls = BIG_CLASS;
	h->pool = (uint8_t)pool;
	h->maplen = maplen;
	atomic_fetch_add_explicit(used, maplen, memory_order_relaxed);
	*out = (char *)h + HDR;
	return 0;
}

void *nprof__arena_alloc(size_t size)
{
	int saved = errno;
	void *p = NULL;
	if (alloc_block(size, &p) < 0)
		p = NULL;
	errno = saved;
	return p;
}

static size_t block_capacity(const struct hdr *h)
{
	if (h->cls == BIG_CLASS)
		return h->maplen - HDR;
	return (size_t)class_sz[h->cls] - HDR;
}

void nprof__arena_free(void *p)
{
	if (p == NULL)
		return;
	int saved = errno;
	struct hdr *h = (struct hdr *)((char *)p - HDR);
	if (h->magic != MAGIC) {
		nprof__log("internal error: arena_free of a foreign pointer %p ignored", p);
		errno = saved;
		return;
	}
	h->magic = 0;
	atomic_size_t *used = h->pool ? &serve_used : &arena_used;
	if (h->cls == BIG_CLASS) {
		size_t len = h->maplen;
		big_unmap(h, len);
		atomic_fetch_sub_explicit(used, len, memory_order_relaxed);
	} else {
		int cls = h->cls;
		int guard = lock_arena();
		((struct free_block *)h)->next = free_lists[cls];
		free_lists[cls] = (struct free_block *)h;
		unlock_arena(guard);
		atomic_fetch_sub_explicit(used, (size_t)class_sz[cls],
					  memory_order_relaxed);
	}
	errno = saved;
}

void *nprof__arena_realloc(void *p, size_t size)
{
	if (p == NULL)
		return nprof__arena_alloc(size);
	struct hdr *h = (struct hdr *)((char *)p - HDR);
	size_t cap = block_capacity(h);
	if (size <= cap)
		return p;
	if (h->cls == BIG_CLASS && size <= ((size_t)1 << 40)) {
		/* A mapping grows by mremap: its pages move with the page
		 * tables, nothing is copied and nothing already touched faults
		 * again (growing vectors of a 50,000-stack profile copied
		 * 14 MB into fresh pages, a fifth of the encoding's time). The
		 * block stays charged to the budget it was allocated from. */
		int saved = errno;
		size_t maplen = (size + HDR + 4095) & ~(size_t)4095;
		size_t oldlen = h->maplen;
		atomic_size_t *used = h->pool ? &serve_used : &arena_used;
		size_t bound = h->pool ? serve_bound() : arena_bound;
		if (atomic_load_explicit(used, memory_order_relaxed) + (maplen - oldlen) > bound) {
			errno = saved;
			return NULL;
		}
		/* A cached mapping is cheaper still for a block of up to a
		 * few MiB: copying touched pages costs less than faulting fresh
		 * ones in. A bigger one moves with mremap. */
		size_t got = 0;
		struct hdr *c = NULL;
		if (oldlen <= ((size_t)4 << 20)) {
			int guard = lock_arena();
			c = mcache_take(maplen, &got);
			unlock_arena(guard);
		}
		if (c != NULL) {
			memcpy(c, h, oldlen);
			memset((char *)c + oldlen, 0, got - oldlen);
			c->maplen = got;
			atomic_fetch_add_explicit(used, got - oldlen, memory_order_relaxed);
			big_unmap(h, oldlen);
			errno = saved;
			return (char *)c + HDR;
		}
		void *n = mremap(h, oldlen, maplen, MREMAP_MAYMOVE);
		if (n != MAP_FAILED) {
			h = n;
			h->maplen = maplen;
			atomic_fetch_add_explicit(used, maplen - oldlen, memory_order_relaxed);
			errno = saved;
			return (char *)h + HDR;
		}
		errno = saved;
	}
	void *n = nprof__arena_alloc(size);
	if (n == NULL)
		return NULL;
	memcpy(n, p, cap);
	nprof__arena_free(p);
	return n;
}

size_t nprof__arena_used(void)
{
	return atomic_load_explicit(&arena_used, memory_order_relaxed);
}

size_t nprof__arena_serve_used(void)
{
	return atomic_load_explicit(&serve_used, memory_order_relaxed);
}

size_t nprof__arena_limit(void)
{
	return arena_bound;
}

/* Sets the bound in bytes (from NPROF_ARENA_MB); for tests, too. */
void nprof__arena_set_limit(size_t bytes)
{
	arena_bound = bytes;
}

void nprof__arena_prefork(void)
{
	pthread_mutex_lock(&arena_lock);
}

void nprof__arena_postfork(void)
{
	pthread_mutex_unlock(&arena_lock);
}
