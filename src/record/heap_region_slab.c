/*
 * heap_region_slab.c - the blocks of the sampled range: slabs of small
 * slots, large blocks, and the interface of heap_region.h (the
 * allocator's upper half; the range, its units and runs are
 * heap_region_run.c's, see heap_region_int.h).
 *
 *   - Small blocks (<= 32 KiB) come from slabs: a run of 1-4 units holding
 *     slots of one size class (16..128 by 16, then four classes per power
 *     of two up to 32 KiB; every power of two is a class, so a slot of a
 *     power-of-two class is aligned to its size). Each slab has an arena
 *     array of per-slot {stack, size}: 8 bytes per block, so rate 1 (every
 *     allocation sampled) costs about 8 bytes per 16-byte block, not a page.
 *   - Large blocks get a run of their own, starting at the run's first
 *     byte (aligned to 64 KiB, or more for memalign); their stack id and
 *     size live in the run's span.
 *   - Per slot, the record is one 64-bit word (stack id, requested size,
 *     generation), written and read whole with atomics, so the lock-free
 *     paths below and leak checks reading under the lock always see a
 *     matching pair. unit_dir[] gives every unit of a slab a small record
 *     (slab start, record words, slot size and its reciprocal, class) in
 *     arrays of 32 per 2 MiB chunk that are never moved or freed: with it,
 *     a free of a small block finds its slot without the lock.
 *   - Partial slabs are listed per class and per arena: a thread's slot
 *     cache refills from its own arena's slabs (heap_thread.c), so the
 *     blocks of two threads do not share cache lines.
 *
 * Locking: region_lock (heap_region_run.c) guards the runs, bins and the
 * slabs' free lists. The hot paths of rate 1 do not take it: a thread's
 * slot cache (heap_thread.c) takes slots in batches (nprof__region_take)
 * and gives them back in batches (nprof__region_give), and records and
 * clears blocks lock-free (nprof__region_record, nprof__region_unrecord).
 * A slot in a cache counts as used, so its slab and its unit records stay
 * put. Large blocks, and threads without a cache, take the lock per block.
 * It is never held while calling malloc or while capturing a stack; the
 * arena lock may be taken inside it (slab side tables), matching core.c's
 * fork lock order (heap, stacks, arena). Not async-signal-safe.
 */
#include "arena.h"
#include "heap_region_int.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define SMALL_MAX 32768

/* Per slot one 64-bit word, written and read whole (atomically: the
 * lock-free paths of heap_thread.c write it outside region_lock):
 * stack id in the low half (0 = slot free), requested bytes (<= 32 KiB)
 * | generation << 16 in the high half. */
#define META(stack, size, gen) ((uint64_t)(stack) | ((uint64_t)(size) | (uint64_t)(gen) << 16) << 32)
#define META_STACK(w) ((uint32_t)(w))
#define META_SIZE(w) ((size_t)((w) >> 32) & 0xffff)
#define META_GEN(w) ((uint16_t)((w) >> 48))

/* Stamped on every block (region_lock held); nprof__region_mark() moves
 * it on, so a leak check can tell blocks made after a mark (check.c). */
static uint16_t region_gen;
/* Leak checks: one spare byte after every block, so that a pointer one
 * past a block's end (a buffer's end pointer) never points into the next
 * block and keeps it alive in the scan. Set by check.c or NPROF_CHECK. */
int nprof__region_pad;

#define NCLS NPROF_REGION_NCLS
static uint32_t class_size[NCLS];
static uint8_t class_of16[SMALL_MAX / 16 + 1];  /* (size + 15) / 16 -> class, malloc alignment */
/* The lock-free view of the slabs (heap_region.h): one array of CHUNK_UNITS
 * entries per 2 MiB chunk, made when a slab first lands in the chunk and
 * never freed or moved, so free() of a sampled small block finds its slot
 * without region_lock. */
static struct nprof_region_unit **unit_dir;
/* Slabs with a free slot, per class and per arena: threads with slot
 * caches take from the arena of their state's number, so two threads'
 * blocks (and their record words) do not share slabs and cache lines. */
#define NARENA NPROF_REGION_NARENA
static uint32_t partial[NARENA][NCLS];

static void init_classes(void)
{
	int c = 0;
	for (uint32_t s = 16; s <= 128; s += 16)
		class_size[c++] = s;
	for (uint32_t p = 128; p < SMALL_MAX; p *= 2)
		for (uint32_t k = 5; k <= 8; k++)
			class_size[c++] = p * k / 4;
	for (int a = 0; a < NARENA; a++)
		for (int i = 0; i < NCLS; i++)
			partial[a][i] = NONE;
	for (uint32_t k = 0, c2 = 0; k <= SMALL_MAX / 16; k++) {
		while (class_size[c2] < k * 16)
			c2++;
		class_of16[k] = (uint8_t)c2;
	}
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
	if (nprof__region_units != 0)
		return 0;
	const char *chk = getenv("NPROF_CHECK");
	if (chk != NULL && chk[0] != '\0')
		nprof__region_pad = 1;
	uintptr_t lo;
	size_t len;
	if (nprof__region_run_find(&lo, &len) < 0)
		return -ENOMEM;
	unit_dir = nprof__arena_alloc(sizeof *unit_dir * ((len >> UNIT_SHIFT) / CHUNK_UNITS + 1));
	if (unit_dir == NULL)
		return -ENOMEM;
	init_classes();
	nprof__region_run_init(lo, len);
	return 0;
}

/* ---------------------------------------------------------------- */
/* slabs and blocks                                                  */
/* ---------------------------------------------------------------- */

/* The lock-free view of unit `u` (made on first use); region_lock held. */
static struct nprof_region_unit *unit_info(uint32_t u)
{
	uint32_t c = u / CHUNK_UNITS;
	struct nprof_region_unit *d = unit_dir[c];
	if (d == NULL) {
		d = nprof__arena_alloc(sizeof *d * CHUNK_UNITS);
		if (d == NULL)
			return NULL;
		__atomic_store_n(&unit_dir[c], d, __ATOMIC_RELEASE);
	}
	return &d[u % CHUNK_UNITS];
}

static uint32_t new_slab(int c, int a)
{
	uint32_t n = slab_units(c);
	uint32_t nslots = (uint32_t)(((size_t)n << UNIT_SHIFT) / class_size[c]);
	uint64_t *meta = nprof__arena_alloc(sizeof *meta * nslots);
	if (meta == NULL)
		return NONE;
	int dirty;
	uint32_t u = nprof__region_run_alloc(n, 1, &dirty);
	if (u == NONE) {
		nprof__arena_free(meta);
		return NONE;
	}
	nprof__region_run_mark(u, n, SPAN_SLAB);
	for (uint32_t i = 0; i < n; i++) {
		struct nprof_region_unit *ui = unit_info(u + i);
		if (ui == NULL) {
			/* The arena is full: give the run back unused. */
			for (uint32_t k = 0; k < i; k++)
				__atomic_store_n(&unit_info(u + k)->base, 0, __ATOMIC_RELAXED);
			nprof__arena_free(meta);
			nprof__region_run_free(u, n, dirty);
			return NONE;
		}
		nprof__region_owner[u + i] = u;
		__atomic_store_n(&ui->meta, meta, __ATOMIC_RELAXED);
		__atomic_store_n(&ui->magic, (((uint64_t)1 << 48) + class_size[c] - 1) / class_size[c],
				 __ATOMIC_RELAXED);
		__atomic_store_n(&ui->size, class_size[c], __ATOMIC_RELAXED);
		__atomic_store_n(&ui->nslots, nslots, __ATOMIC_RELAXED);
		__atomic_store_n(&ui->cls, (uint32_t)c, __ATOMIC_RELAXED);
		__atomic_store_n(&ui->base, (uintptr_t)unit_addr(u), __ATOMIC_RELEASE);
	}
	struct span *s = &nprof__region_spans[u];
	s->cls = (uint8_t)c;
	s->nslots = nslots;
	s->used = s->bump = s->free_head = 0;
	s->meta = meta;
	s->arena = (uint8_t)a;
	list_push(&partial[a][c], u);
	return u;
}

/* A free slot of class c, counted used, its meta word left 0; NULL when
 * no slab can be made. region_lock held. */
static char *slot_take(int c, int a)
{
	uint32_t u = partial[a][c];
	if (u == NONE && (u = new_slab(c, a)) == NONE)
		return NULL;
	struct span *s = &nprof__region_spans[u];
	uint32_t slot;
	if (s->free_head != 0) {
		slot = s->free_head - 1;
		s->free_head = *(uint32_t *)(unit_addr(u) + (size_t)slot * class_size[c]);
	} else {
		slot = s->bump++;
	}
	if (++s->used == s->nslots)
		list_remove(&partial[a][c], u);
	return unit_addr(u) + (size_t)slot * class_size[c];
}

/* Gives back slot `slot` of slab `u` (its meta word already 0); an empty
 * slab returns to the runs. region_lock held. */
static void slot_give(uint32_t u, uint32_t slot)
{
	struct span *s = &nprof__region_spans[u];
	char *p = unit_addr(u) + (size_t)slot * class_size[s->cls];
	/* The link is a slot index, not a pointer: a leak check scanning a
	 * block that reuses the slot never mistakes it for a reference. */
	*(uint32_t *)p = s->free_head;
	s->free_head = slot + 1;
	if (s->used-- == s->nslots)
		list_push(&partial[s->arena][s->cls], u);
	/* An empty slab goes back to the runs unless it is its class's
	 * only one, which would just be made again by the next sample. */
	if (s->used == 0 && (partial[s->arena][s->cls] != u || s->next != NONE)) {
		list_remove(&partial[s->arena][s->cls], u);
		for (uint32_t i = 0; i < s->nunits; i++)
			__atomic_store_n(&unit_dir[(u + i) / CHUNK_UNITS][(u + i) % CHUNK_UNITS].base, 0,
					 __ATOMIC_RELAXED);
		nprof__arena_free(s->meta);
		s->meta = NULL;
		nprof__region_run_free(u, s->nunits, 1);
	}
}

static void *small_alloc(size_t size, int c, int zero, uint32_t stack)
{
	char *p = slot_take(c, 0);
	if (p == NULL)
		return NULL;
	int cls;
	uint64_t *m = nprof__region_slot(p, &cls);
	__atomic_store_n(m, META(stack, size, region_gen), __ATOMIC_RELAXED);
	if (zero)
		memset(p, 0, size);
	return p;
}

static void *large_alloc(size_t size, size_t pad, size_t align, int zero, uint32_t stack)
{
	if (size + pad > (size_t)nprof__region_units << UNIT_SHIFT)
		return NULL;
	uint32_t n = (uint32_t)((size + pad + UNIT - 1) >> UNIT_SHIFT);
	uint32_t au = align > UNIT ? (uint32_t)(align >> UNIT_SHIFT) : 1;
	int dirty;
	uint32_t u = nprof__region_run_alloc(n, au, &dirty);
	if (u == NONE)
		return NULL;
	nprof__region_run_mark(u, n, SPAN_LARGE);
	nprof__region_spans[u].stack = stack;
	nprof__region_spans[u].gen = region_gen;
	nprof__region_spans[u].size = size;
	if (zero && dirty)
		memset(unit_addr(u), 0, size);
	return unit_addr(u);
}

int nprof__region_class(size_t size, size_t align)
{
	if (nprof__region_units == 0)
		return -1;
	size += nprof__region_pad ? 1 : 0;
	if (size > SMALL_MAX || align > SMALL_MAX)
		return -1;
	if (align <= 16)
		return class_of16[(size + 15) >> 4];
	return class_for(size, align);
}

size_t nprof__region_class_size(int c)
{
	return class_size[c];
}

void *nprof__region_alloc(size_t size, size_t align, int zero, uint32_t stack)
{
	if (nprof__region_units == 0 || stack == 0)
		return NULL;
	if (align < 16)
		align = 16;
	void *p;
	size_t pad = nprof__region_pad ? 1 : 0;
	int c = nprof__region_class(size, align);
	pthread_mutex_lock(&nprof__region_lock);
	if (c >= 0)
		p = small_alloc(size, c, zero, stack);
	else
		p = large_alloc(size, pad, align, zero, stack);
	pthread_mutex_unlock(&nprof__region_lock);
	return p;
}

int nprof__region_take(int c, int arena, void **out, int max)
{
	int n = 0;
	pthread_mutex_lock(&nprof__region_lock);
	while (n < max && (out[n] = slot_take(c, arena % NARENA)) != NULL)
		n++;
	pthread_mutex_unlock(&nprof__region_lock);
	return n;
}
void nprof__region_give(void *const *ps, int n)
{
	pthread_mutex_lock(&nprof__region_lock);
	for (int i = 0; i < n; i++) {
		uint32_t u = run_of(ps[i]);
		if (u == NONE || nprof__region_spans[u].kind != SPAN_SLAB || nprof__region_spans[u].meta == NULL)
			continue; /* cannot happen: slots given are taken ones */
		size_t off = (size_t)((const char *)ps[i] - unit_addr(u));
		slot_give(u, (uint32_t)(off / class_size[nprof__region_spans[u].cls]));
	}
	pthread_mutex_unlock(&nprof__region_lock);
}

uint64_t *nprof__region_slot(const void *p, int *cls)
{
	uintptr_t d = (uintptr_t)p - nprof__region_lo;
	if (d >= __atomic_load_n(&nprof__region_len, __ATOMIC_ACQUIRE))
		return NULL;
	struct nprof_region_unit *dir =
		__atomic_load_n(&unit_dir[d >> NPROF_REGION_CHUNK_SHIFT], __ATOMIC_ACQUIRE);
	if (dir == NULL)
		return NULL;
	struct nprof_region_unit *ui = &dir[(d >> UNIT_SHIFT) % CHUNK_UNITS];
	uintptr_t base = __atomic_load_n(&ui->base, __ATOMIC_ACQUIRE);
	if (base == 0)
		return NULL;
	uint64_t off = (uintptr_t)p - base;
	uint64_t q = (off * __atomic_load_n(&ui->magic, __ATOMIC_RELAXED)) >> 48;
	if (q * __atomic_load_n(&ui->size, __ATOMIC_RELAXED) != off ||
	    q >= __atomic_load_n(&ui->nslots, __ATOMIC_RELAXED))
		return NULL;
	*cls = (int)__atomic_load_n(&ui->cls, __ATOMIC_RELAXED);
	return __atomic_load_n(&ui->meta, __ATOMIC_RELAXED) + q;
}

void nprof__region_record(void *p, uint64_t *meta, size_t size, uint32_t stack)
{
	(void)p;
	__atomic_store_n(meta, META(stack, size, __atomic_load_n(&region_gen, __ATOMIC_RELAXED)),
			 __ATOMIC_RELAXED);
}

int nprof__region_unrecord(void *p, uint32_t *stack, size_t *size, int *cls, uint64_t **meta)
{
	uint64_t *m = nprof__region_slot(p, cls);
	*meta = m;
	if (m == NULL)
		return 1;
	uint64_t w = __atomic_load_n(m, __ATOMIC_RELAXED);
	if (META_STACK(w) == 0)
		return -1; /* a double free */
	*stack = META_STACK(w);
	*size = META_SIZE(w);
	__atomic_store_n(m, 0, __ATOMIC_RELAXED);
	/* Leak checks: a freed block's old pointers must not make a later
	 * block that reuses the memory look like a root. */
	if (nprof__region_pad)
		memset(p, 0, class_size[*cls]);
	return 0;
}

int nprof__region_free(void *p, uint32_t *stack, size_t *size)
{
	int cls;
	uint64_t *meta;
	int rc = nprof__region_unrecord(p, stack, size, &cls, &meta);
	if (rc == 0) {
		nprof__region_give(&p, 1);
		return 0;
	}
	if (rc < 0)
		return -1;
	rc = -1;
	pthread_mutex_lock(&nprof__region_lock);
	uint32_t u = run_of(p);
	if (u != NONE && nprof__region_spans[u].kind == SPAN_LARGE && p == unit_addr(u) &&
	    nprof__region_spans[u].stack != 0) {
		struct span *s = &nprof__region_spans[u];
		*stack = s->stack;
		*size = s->size;
		if (nprof__region_pad)
			memset(p, 0, s->size);
		s->stack = 0;
		nprof__region_run_free(u, s->nunits, 1);
		rc = 0;
	}
	pthread_mutex_unlock(&nprof__region_lock);
	return rc;
}

size_t nprof__region_usable(const void *p)
{
	int cls;
	uint64_t *m = nprof__region_slot(p, &cls);
	if (m != NULL)
		return META_STACK(__atomic_load_n(m, __ATOMIC_RELAXED)) != 0 ? class_size[cls] : 0;
	size_t r = 0;
	pthread_mutex_lock(&nprof__region_lock);
	uint32_t u = run_of(p);
	if (u != NONE && nprof__region_spans[u].kind == SPAN_LARGE && p == unit_addr(u))
		r = (size_t)nprof__region_spans[u].nunits << UNIT_SHIFT;
	pthread_mutex_unlock(&nprof__region_lock);
	return r;
}

uint16_t nprof__region_mark(void)
{
	pthread_mutex_lock(&nprof__region_lock);
	uint16_t m = region_gen;
	__atomic_store_n(&region_gen, (uint16_t)(m + 1), __ATOMIC_RELAXED);
	pthread_mutex_unlock(&nprof__region_lock);
	return m;
}

size_t nprof__region_blocks(struct nprof_region_block *out, size_t max)
{
	size_t n = 0;
	if (nprof__region_len == 0)
		return 0;
	pthread_mutex_lock(&nprof__region_lock);
	for (uint32_t u = 0; u < nprof__region_bump;) {
		const struct span *s = &nprof__region_spans[u];
		uint32_t next = u + (s->nunits ? s->nunits : 1);
		if (s->kind == SPAN_SLAB && s->meta != NULL && nprof__region_owner[u] == u) {
			uint32_t sz = class_size[s->cls];
			for (uint32_t k = 0; k < s->bump; k++) {
				/* Written by other threads without the lock: one
				 * atomic word, so stack and size always match. */
				uint64_t w = __atomic_load_n(&s->meta[k], __ATOMIC_RELAXED);
				if (META_STACK(w) == 0 || META_STACK(w) == NPROF_REGION_OWN_STACK)
					continue;
				if (n < max) {
					out[n].addr = (uintptr_t)unit_addr(u) + (uintptr_t)k * sz;
					out[n].size = META_SIZE(w);
					out[n].stack = META_STACK(w);
					out[n].gen = META_GEN(w);
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
	pthread_mutex_unlock(&nprof__region_lock);
	return n;
}
