/*
 * heap_region.c - the sampled-block allocator.
 *
 * Every allocation the heap profiler samples is served from one address
 * range that nprof chooses at start (up to 64 GiB) but maps only as it is
 * used: nothing is reserved up front, because every mapping counts against
 * the program's RLIMIT_AS. A reservation either made every later mapping
 * of a program that lowers RLIMIT_AS fail, or, served from, let sampled
 * blocks bypass the limit (tests/preload/rlimit_as.sh). The range is found
 * by mapping it and unmapping it at once; it then grows from its bottom
 * with MAP_FIXED_NOREPLACE, 2 MiB at a time, while the kernel places the
 * program's own mappings top-down, so the two meet only when the range is
 * used up (then the program's mapping simply stays there and the sampled
 * range stops growing: later samples fall back to the real allocator).
 * free() then tells a sampled pointer from all the
 * others with one subtract-and-compare against two globals (the used
 * part only; then one byte per 2 MiB chunk, see below), no lock and no
 * hash probe: the unsampled majority goes straight to the real free. The
 * block's stack id and requested size live in side tables here, so the
 * program's bytes are never touched and alignment is not disturbed.
 *
 * Layout: the range is cut into 64 KiB units, handed out by a bump pointer
 * and recycled through free runs.
 *   - Small blocks (<= 32 KiB) come from slabs: a run of 1-4 units holding
 *     slots of one size class (16..128 by 16, then four classes per power
 *     of two up to 32 KiB; every power of two is a class, so a slot of a
 *     power-of-two class is aligned to its size). Each slab has an arena
 *     array of per-slot {stack, size}: 8 bytes per block, so rate 1 (every
 *     allocation sampled) costs about 8 bytes per 16-byte block, not a page.
 *   - Large blocks get a run of their own, starting at the run's first
 *     byte (aligned to 64 KiB, or more for memalign).
 *   - spans[u] describes the run starting at unit u; owner[u] names the
 *     run containing unit u (set for every unit of a slab and for the first
 *     and last unit of every run, which is what lookups and coalescing
 *     read). Both cover the mapped units only and grow with them (mremap,
 *     under region_lock, which every reader holds).
 *   - Free runs coalesce with their neighbours and sit in bins by length
 *     (1..62 units exact, longer ones in one first-fit list). Freed memory
 *     is kept for reuse up to 32 MiB; beyond that it is returned to the
 *     kernel with MADV_DONTNEED. Runs carry a `dirty` flag so calloc only
 *     clears memory that may be non-zero.
 *   - Address space is mapped 2 MiB at a time as the bump pointer
 *     advances; a failed mapping (the program's RLIMIT_AS, or its own
 *     mapping in the way) fails that sample only. Every 2 MiB chunk wholly
 *     inside a free run is unmapped, at the top or below a live block, and
 *     its byte in nprof__region_chunk[] cleared: region_owns() reads it, so
 *     a program mapping that lands in such a hole is never taken for ours.
 *     Taking a run over a released chunk maps it again.
 *
 * Locking: one mutex, region_lock, taken on every sampled allocation and
 * free (rare at the default rate: about one allocation in 512 KiB). It is
 * never held while calling malloc or while capturing a stack; the arena
 * lock may be taken inside it (slab side tables), matching core.c's fork
 * lock order (heap, stacks, arena). Not async-signal-safe.
 */
#include "arena.h"
#include "heap_region.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>

#define UNIT_SHIFT 16
#define UNIT ((size_t)1 << UNIT_SHIFT)
#define REGION_MAX ((size_t)64 << 30)
#define REGION_MIN ((size_t)64 << 20)
#define COMMIT_STEP ((size_t)2 << 20)
#define SMALL_MAX 32768
#define NBINS 64                         /* bins[1..62]: exact; bins[63]: longer */
#define DIRTY_MAX ((size_t)32 << 20)     /* freed memory kept for reuse */
#define NONE 0xffffffffu

enum { SPAN_UNUSED = 0, SPAN_FREE, SPAN_SLAB, SPAN_LARGE };

struct slot_meta {
	uint32_t stack;                  /* 0 = slot free */
	uint32_t size;                   /* requested bytes (<= 32 KiB) | generation << 16 */
};

struct span {
	uint32_t nunits;
	uint8_t kind;
	uint8_t cls;
	uint8_t dirty;                   /* free run: pages may be non-zero */
	uint32_t next, prev;             /* bin or partial-slab list; NONE ends */
	/* slabs */
	uint32_t nslots, used, bump, free_head;  /* free_head: slot + 1, 0 = none */
	struct slot_meta *meta;
	/* large blocks */
	uint32_t stack;
	uint16_t gen;
	size_t size;
};

uintptr_t nprof__region_lo;
size_t nprof__region_len;
#define CHUNK_UNITS ((uint32_t)(COMMIT_STEP >> UNIT_SHIFT))
_Static_assert(COMMIT_STEP == (size_t)1 << NPROF_REGION_CHUNK_SHIFT, "chunk size");
/* Written under region_lock, read by nprof__region_owns() without it. */
unsigned char nprof__region_chunk[REGION_MAX / COMMIT_STEP];
/* Stamped on every block (region_lock held); nprof__region_mark() moves
 * it on, so a leak check can tell blocks made after a mark (check.c). */
static uint16_t region_gen;
/* Leak checks: one spare byte after every block, so that a pointer one
 * past a block's end (a buffer's end pointer) never points into the next
 * block and keeps it alive in the scan. Set by check.c or NPROF_CHECK. */
int nprof__region_pad;

static pthread_mutex_t region_lock = PTHREAD_MUTEX_INITIALIZER;
static struct span *spans;
static uint32_t *owner;
static uint32_t total_units, bump_unit, committed_units;
static uint32_t table_units;             /* capacity of spans and owner */
static uint32_t bins[NBINS];
static size_t dirty_bytes;

#define NCLS 40
static uint32_t class_size[NCLS];
static uint32_t partial[NCLS];           /* slabs with a free slot */

static char *unit_addr(uint32_t u)
{
	return (char *)nprof__region_lo + ((size_t)u << UNIT_SHIFT);
}

static void init_classes(void)
{
	int c = 0;
	for (uint32_t s = 16; s <= 128; s += 16)
		class_size[c++] = s;
	for (uint32_t p = 128; p < SMALL_MAX; p *= 2)
		for (uint32_t k = 5; k <= 8; k++)
			class_size[c++] = p * k / 4;
	for (int i = 0; i < NCLS; i++)
		partial[i] = NONE;
	for (int i = 0; i < NBINS; i++)
		bins[i] = NONE;
}

/* The smallest class holding `size` bytes whose slots are `align`-aligned. */
static int class_for(size_t size, size_t align)
{
	for (int c = 0; c < NCLS; c++)
		if (class_size[c] >= size && class_size[c] % align == 0)
			return c;
	return -1;
}

static uint32_t slab_units(int c)
{
	size_t u = ((size_t)class_size[c] * 8 + UNIT - 1) / UNIT;
	return (uint32_t)(u ? u : 1);
}

int nprof__region_init(void)
{
	if (total_units != 0)
		return 0;
	const char *chk = getenv("NPROF_CHECK");
	if (chk != NULL && chk[0] != '\0')
		nprof__region_pad = 1;
	/* Find a free range: map it, note where it is, unmap it at once.
	 * Under an address-space limit a smaller range is all we can probe;
	 * nothing stays mapped either way. */
	size_t len = REGION_MAX;
	void *base = MAP_FAILED;
	for (; len >= REGION_MIN; len /= 2) {
		base = mmap(NULL, len + UNIT, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
			    -1, 0);
		if (base != MAP_FAILED)
			break;
	}
	if (base == MAP_FAILED)
		return -ENOMEM;
	munmap(base, len + UNIT);
	/* Units are aligned to their size, so slots of a power-of-two class
	 * are aligned to theirs. */
	uintptr_t a = ((uintptr_t)base + UNIT - 1) & ~(uintptr_t)(UNIT - 1);
	total_units = (uint32_t)(len >> UNIT_SHIFT);
	init_classes();
	nprof__region_lo = a;
	/* nprof__region_len (what region_owns() compares with) stays 0 until
	 * units are mapped: no pointer is ours before that. */
	return 0;
}

/* ---------------------------------------------------------------- */
/* 2 MiB chunks: mapped, released, remapped; region_lock held         */
/* ---------------------------------------------------------------- */

/*
 * Invariant: a chunk below committed_units is unmapped only while it lies
 * wholly inside one free run. So every unit of a live run is mapped, and
 * a chunk only partly covered by a free run is mapped (it holds a live
 * unit). Nothing here ever munmaps or madvises a chunk not marked ours:
 * the program may have mapped its own memory there.
 */
static int chunk_ours(uint32_t c)
{
	return nprof__region_chunk[c] != 0;
}

static void chunk_mark(uint32_t c, int ours)
{
	__atomic_store_n(&nprof__region_chunk[c], (unsigned char)ours, __ATOMIC_RELEASE);
}

/* Throws away the contents of the mapped parts of [u, u + n). */
static void discard(uint32_t u, uint32_t n)
{
	for (uint32_t end = u + n; u < end;) {
		uint32_t ce = (u / CHUNK_UNITS + 1) * CHUNK_UNITS;
		if (ce > end)
			ce = end;
		if (chunk_ours(u / CHUNK_UNITS))
			madvise(unit_addr(u), (size_t)(ce - u) << UNIT_SHIFT, MADV_DONTNEED);
		u = ce;
	}
}

/* Unmaps every chunk wholly inside the free run [u, u + n): freed space
 * anywhere in the range stops counting against RLIMIT_AS. */
static void release(uint32_t u, uint32_t n)
{
	uint32_t c1 = (u + n) / CHUNK_UNITS;
	for (uint32_t c = (u + CHUNK_UNITS - 1) / CHUNK_UNITS; c < c1; c++)
		if (chunk_ours(c)) {
			chunk_mark(c, 0);
			munmap(unit_addr(c * CHUNK_UNITS), COMMIT_STEP);
		}
}

/* Maps again the released chunks of [u, u + n), about to be used; fails
 * when the limit or a mapping of the program is in the way. */
static int remap(uint32_t u, uint32_t n)
{
	for (uint32_t c = u / CHUNK_UNITS; (uint64_t)c * CHUNK_UNITS < (uint64_t)u + n; c++) {
		if (chunk_ours(c))
			continue;
		void *want = unit_addr(c * CHUNK_UNITS);
		void *got = mmap(want, COMMIT_STEP, PROT_READ | PROT_WRITE,
				 MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
		if (got == MAP_FAILED)
			return -1;
		if (got != want) {
			munmap(got, COMMIT_STEP);
			return -1;
		}
		madvise(got, COMMIT_STEP, MADV_NOHUGEPAGE);
		chunk_mark(c, 1);
	}
	return 0;
}

/* ---------------------------------------------------------------- */
/* runs of units; region_lock held                                    */
/* ---------------------------------------------------------------- */

static int bin_of(uint32_t nunits)
{
	return nunits < NBINS - 1 ? (int)nunits : NBINS - 1;
}

static void list_push(uint32_t *head, uint32_t u)
{
	spans[u].prev = NONE;
	spans[u].next = *head;
	if (*head != NONE)
		spans[*head].prev = u;
	*head = u;
}

static void list_remove(uint32_t *head, uint32_t u)
{
	struct span *s = &spans[u];
	if (s->prev != NONE)
		spans[s->prev].next = s->next;
	else
		*head = s->next;
	if (s->next != NONE)
		spans[s->next].prev = s->prev;
	s->next = s->prev = NONE;
}

static void mark_run(uint32_t u, uint32_t n, int kind)
{
	spans[u].nunits = n;
	spans[u].kind = (uint8_t)kind;
	owner[u] = u;
	owner[u + n - 1] = u;
}

/* Puts a free run in its bin (no coalescing). */
static void bin_insert(uint32_t u, uint32_t n, int dirty)
{
	mark_run(u, n, SPAN_FREE);
	spans[u].dirty = (uint8_t)dirty;
	if (dirty)
		dirty_bytes += (size_t)n << UNIT_SHIFT;
	list_push(&bins[bin_of(n)], u);
}

static void bin_take(uint32_t u)
{
	list_remove(&bins[bin_of(spans[u].nunits)], u);
	if (spans[u].dirty)
		dirty_bytes -= (size_t)spans[u].nunits << UNIT_SHIFT;
	spans[u].kind = SPAN_UNUSED;
}

/* Gives back a run: coalesces, bins, and returns memory past DIRTY_MAX. */
static void run_free(uint32_t u, uint32_t n, int dirty)
{
	/* Only heads of live runs keep a kind: a stale one could mislead a
	 * lookup of a wild pointer later. */
	spans[u].kind = SPAN_UNUSED;
	if (u > 0) {
		uint32_t p = owner[u - 1];
		if (p < u && spans[p].kind == SPAN_FREE && p + spans[p].nunits == u) {
			dirty |= spans[p].dirty;
			n += spans[p].nunits;
			bin_take(p);
			u = p;
		}
	}
	uint32_t nx = u + n;
	if (nx < bump_unit && spans[nx].kind == SPAN_FREE && owner[nx] == nx) {
		dirty |= spans[nx].dirty;
		n += spans[nx].nunits;
		bin_take(nx);
	}
	if (u + n == bump_unit) {
		/* The top of the used range: give the address space back (it
		 * counts against RLIMIT_AS), keeping the current 2 MiB step.
		 * Below the top, release() unmaps whole free chunks. */
		uint32_t keep = (u + CHUNK_UNITS - 1) / CHUNK_UNITS * CHUNK_UNITS;
		bump_unit = u;
		/* Fresh units must read as zero (calloc relies on it). */
		if (dirty && keep > u)
			discard(u, keep - u);
		if (keep < committed_units) {
			__atomic_store_n(&nprof__region_len, (size_t)keep << UNIT_SHIFT,
					 __ATOMIC_RELEASE);
			release(keep, committed_units - keep);
			committed_units = keep;
		}
		return;
	}
	release(u, n);
	if (dirty && dirty_bytes + ((size_t)n << UNIT_SHIFT) > DIRTY_MAX) {
		discard(u, n);
		dirty = 0;
	}
	bin_insert(u, n, dirty);
}

/* Grows spans and owner to cover `units` units. */
static int tables_grow(uint32_t units)
{
	if (units <= table_units)
		return 0;
	uint32_t cap = table_units ? table_units : 1024;
	while (cap < units)
		cap *= 2;
	if (cap > total_units)
		cap = total_units;
	size_t so = sizeof(struct span) * table_units, sn = sizeof(struct span) * cap;
	size_t oo = sizeof(uint32_t) * table_units, on = sizeof(uint32_t) * cap;
	void *sp = table_units ? mremap(spans, so, sn, MREMAP_MAYMOVE)
			       : mmap(NULL, sn, PROT_READ | PROT_WRITE,
				      MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (sp == MAP_FAILED)
		return -1;
	spans = sp;
	void *ow = table_units ? mremap(owner, oo, on, MREMAP_MAYMOVE)
			       : mmap(NULL, on, PROT_READ | PROT_WRITE,
				      MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (ow == MAP_FAILED) {
		if (table_units == 0) { /* keep the pair consistent */
			munmap(spans, sn);
			spans = NULL;
		} else if ((sp = mremap(spans, sn, so, 0)) != MAP_FAILED) {
			spans = sp;
		}
		return -1;
	}
	owner = ow;
	table_units = cap;
	return 0;
}

/* Maps units up to `end`, at the bottom of the chosen range. */
static int commit_to(uint32_t end)
{
	if (end <= committed_units)
		return 0;
	uint32_t step = (uint32_t)(COMMIT_STEP >> UNIT_SHIFT);
	uint32_t to = (end + step - 1) / step * step;
	if (to > total_units)
		to = total_units;
	size_t len = (size_t)(to - committed_units) << UNIT_SHIFT;
	void *want = unit_addr(committed_units);
	void *got = mmap(want, len, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
	if (got == MAP_FAILED)
		return -1;
	/* A kernel without MAP_FIXED_NOREPLACE takes it as a hint; and the
	 * side tables grow only once the units exist (a refused 8 GiB
	 * calloc must not leave them grown). */
	if (got != want || tables_grow(to) < 0) {
		munmap(got, len);
		return -1;
	}
	/* Sampled blocks are sparse: huge pages would inflate RSS. */
	madvise(got, len, MADV_NOHUGEPAGE);
	for (uint32_t c = committed_units / CHUNK_UNITS; c < to / CHUNK_UNITS; c++)
		chunk_mark(c, 1);
	committed_units = to;
	__atomic_store_n(&nprof__region_len, (size_t)to << UNIT_SHIFT, __ATOMIC_RELEASE);
	return 0;
}

/*
 * A run of `n` units whose start is a multiple of `au` units. Returns its
 * first unit or NONE; *dirty says whether it may hold old data.
 */
static uint32_t run_alloc(uint32_t n, uint32_t au, int *dirty)
{
	if (au <= 1) {
		uint32_t u = NONE;
		for (int b = bin_of(n); b < NBINS - 1 && u == NONE; b++)
			u = bins[b];
		if (u == NONE)
			for (uint32_t v = bins[NBINS - 1]; v != NONE; v = spans[v].next)
				if (spans[v].nunits >= n) {
					u = v;
					break;
				}
		if (u != NONE) {
			uint32_t have = spans[u].nunits;
			*dirty = spans[u].dirty;
			bin_take(u);
			if (remap(u, n) < 0) {
				/* Put it back as it was; try fresh space. */
				release(u, have);
				bin_insert(u, have, *dirty);
				goto fresh;
			}
			if (have > n)
				bin_insert(u + n, have - n, *dirty);
			return u;
		}
	}
fresh:;
	/* Fresh address space; alignment gaps become free runs. Alignment is
	 * of the address, so counted from unit 0 of the address space. */
	uint64_t a = au > 1 ? au : 1, first = nprof__region_lo >> UNIT_SHIFT;
	uint64_t abs = (first + bump_unit + a - 1) / a * a;
	if (abs - first > total_units || n > total_units || abs - first > total_units - n)
		return NONE;
	uint32_t u = (uint32_t)(abs - first);
	if (commit_to(u + n) < 0)
		return NONE;
	uint32_t gap = bump_unit;
	bump_unit = u + n;
	if (u > gap)
		run_free(gap, u - gap, 0);
	*dirty = 0;
	return u;
}

/* ---------------------------------------------------------------- */
/* blocks                                                            */
/* ---------------------------------------------------------------- */

static uint32_t new_slab(int c)
{
	uint32_t n = slab_units(c);
	uint32_t nslots = (uint32_t)(((size_t)n << UNIT_SHIFT) / class_size[c]);
	struct slot_meta *meta = nprof__arena_alloc(sizeof *meta * nslots);
	if (meta == NULL)
		return NONE;
	int dirty;
	uint32_t u = run_alloc(n, 1, &dirty);
	if (u == NONE) {
		nprof__arena_free(meta);
		return NONE;
	}
	mark_run(u, n, SPAN_SLAB);
	for (uint32_t i = 0; i < n; i++)
		owner[u + i] = u;
	struct span *s = &spans[u];
	s->cls = (uint8_t)c;
	s->nslots = nslots;
	s->used = s->bump = s->free_head = 0;
	s->meta = meta;
	list_push(&partial[c], u);
	return u;
}

static void *small_alloc(size_t size, size_t pad, size_t align, int zero, uint32_t stack)
{
	int c = class_for(size + pad, align);
	uint32_t u = partial[c];
	if (u == NONE && (u = new_slab(c)) == NONE)
		return NULL;
	struct span *s = &spans[u];
	uint32_t slot;
	if (s->free_head != 0) {
		slot = s->free_head - 1;
		s->free_head = *(uint32_t *)(unit_addr(u) + (size_t)slot * class_size[c]);
	} else {
		slot = s->bump++;
	}
	if (++s->used == s->nslots)
		list_remove(&partial[c], u);
	s->meta[slot].stack = stack;
	s->meta[slot].size = (uint32_t)size | (uint32_t)region_gen << 16;
	char *p = unit_addr(u) + (size_t)slot * class_size[c];
	if (zero)
		memset(p, 0, size);
	return p;
}

static void *large_alloc(size_t size, size_t pad, size_t align, int zero, uint32_t stack)
{
	if (size + pad > (size_t)total_units << UNIT_SHIFT)
		return NULL;
	uint32_t n = (uint32_t)((size + pad + UNIT - 1) >> UNIT_SHIFT);
	uint32_t au = align > UNIT ? (uint32_t)(align >> UNIT_SHIFT) : 1;
	int dirty;
	uint32_t u = run_alloc(n, au, &dirty);
	if (u == NONE)
		return NULL;
	mark_run(u, n, SPAN_LARGE);
	spans[u].stack = stack;
	spans[u].gen = region_gen;
	spans[u].size = size;
	if (zero && dirty)
		memset(unit_addr(u), 0, size);
	return unit_addr(u);
}

void *nprof__region_alloc(size_t size, size_t align, int zero, uint32_t stack)
{
	if (total_units == 0 || stack == 0)
		return NULL;
	if (align < 16)
		align = 16;
	void *p;
	size_t pad = nprof__region_pad ? 1 : 0;
	pthread_mutex_lock(&region_lock);
	if (size + pad <= SMALL_MAX && align <= SMALL_MAX)
		p = small_alloc(size, pad, align, zero, stack);
	else
		p = large_alloc(size, pad, align, zero, stack);
	pthread_mutex_unlock(&region_lock);
	return p;
}

/* The run holding `p`, or NONE; region_lock held. */
static uint32_t run_of(const void *p)
{
	uint32_t pu = (uint32_t)(((uintptr_t)p - nprof__region_lo) >> UNIT_SHIFT);
	if (pu >= bump_unit)
		return NONE;
	uint32_t u = owner[pu];
	if (u > pu || u >= bump_unit || pu >= u + spans[u].nunits)
		return NONE;
	return u;
}

/* Slot index of `p` in slab `u`, or NONE when p is not a live slot. */
static uint32_t slot_of(uint32_t u, const void *p)
{
	size_t off = (size_t)((const char *)p - unit_addr(u));
	uint32_t sz = class_size[spans[u].cls];
	if (spans[u].meta == NULL || off % sz != 0 || off / sz >= spans[u].nslots ||
	    spans[u].meta[off / sz].stack == 0)
		return NONE;
	return (uint32_t)(off / sz);
}

int nprof__region_free(void *p, uint32_t *stack, size_t *size)
{
	int rc = -1;
	pthread_mutex_lock(&region_lock);
	uint32_t u = run_of(p);
	if (u == NONE)
		goto out;
	struct span *s = &spans[u];
	if (s->kind == SPAN_LARGE && p == unit_addr(u)) {
		*stack = s->stack;
		*size = s->size;
		/* Leak checks: a freed block's old pointers must not make a
		 * later block that reuses the memory look like a root. */
		if (nprof__region_pad)
			memset(p, 0, s->size);
		s->stack = 0;
		run_free(u, s->nunits, 1);
		rc = 0;
	} else if (s->kind == SPAN_SLAB) {
		uint32_t slot = slot_of(u, p);
		if (slot == NONE)
			goto out;
		*stack = s->meta[slot].stack;
		*size = s->meta[slot].size & 0xffff;
		s->meta[slot].stack = 0;
		if (nprof__region_pad)
			memset(p, 0, class_size[s->cls]);
		*(uint32_t *)p = s->free_head;
		s->free_head = slot + 1;
		if (s->used-- == s->nslots)
			list_push(&partial[s->cls], u);
		/* An empty slab goes back to the runs unless it is its class's
		 * only one, which would just be made again by the next sample. */
		if (s->used == 0 && (partial[s->cls] != u || s->next != NONE)) {
			list_remove(&partial[s->cls], u);
			nprof__arena_free(s->meta);
			s->meta = NULL;
			uint32_t n = s->nunits;
			run_free(u, n, 1);
		}
		rc = 0;
	}
out:
	pthread_mutex_unlock(&region_lock);
	return rc;
}

size_t nprof__region_usable(const void *p)
{
	size_t r = 0;
	pthread_mutex_lock(&region_lock);
	uint32_t u = run_of(p);
	if (u != NONE && spans[u].kind == SPAN_LARGE && p == unit_addr(u))
		r = (size_t)spans[u].nunits << UNIT_SHIFT;
	else if (u != NONE && spans[u].kind == SPAN_SLAB && slot_of(u, p) != NONE)
		r = class_size[spans[u].cls];
	pthread_mutex_unlock(&region_lock);
	return r;
}

uint16_t nprof__region_mark(void)
{
	pthread_mutex_lock(&region_lock);
	uint16_t m = region_gen++;
	pthread_mutex_unlock(&region_lock);
	return m;
}

size_t nprof__region_blocks(struct nprof_region_block *out, size_t max)
{
	size_t n = 0;
	if (nprof__region_len == 0)
		return 0;
	pthread_mutex_lock(&region_lock);
	for (uint32_t u = 0; u < bump_unit;) {
		const struct span *s = &spans[u];
		uint32_t next = u + (s->nunits ? s->nunits : 1);
		if (s->kind == SPAN_SLAB && s->meta != NULL && owner[u] == u) {
			uint32_t sz = class_size[s->cls];
			for (uint32_t k = 0; k < s->bump; k++) {
				if (s->meta[k].stack == 0 ||
				    s->meta[k].stack == NPROF_REGION_OWN_STACK)
					continue;
				if (n < max) {
					out[n].addr = (uintptr_t)unit_addr(u) + (uintptr_t)k * sz;
					out[n].size = s->meta[k].size & 0xffff;
					out[n].stack = s->meta[k].stack;
					out[n].gen = (uint16_t)(s->meta[k].size >> 16);
				}
				n++;
			}
		} else if (s->kind == SPAN_LARGE && s->stack != 0 &&
			   s->stack != NPROF_REGION_OWN_STACK) {
			if (n < max) {
				out[n].addr = (uintptr_t)unit_addr(u);
				out[n].size = s->size;
				out[n].stack = s->stack;
				out[n].gen = s->gen;
			}
			n++;
		}
		u = next;
	}
	pthread_mutex_unlock(&region_lock);
	return n;
}

void nprof__region_prefork(void)
{
	pthread_mutex_lock(&region_lock);
}

void nprof__region_postfork(void)
{
	pthread_mutex_unlock(&region_lock);
}
