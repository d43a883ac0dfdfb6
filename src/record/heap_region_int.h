/*
 * heap_region_int.h - private contract between the two files of the
 * sampled-block allocator (the interface the rest of nprof uses is
 * heap_region.h):
 *
 *   heap_region_run.c   the range and its runs: finding the range, the
 *                       64 KiB units, mapping, releasing and remapping
 *                       2 MiB chunks (nprof__region_chunk[]), free runs
 *                       and their bins, the run side tables (spans[],
 *                       owner[]) and region_lock with its fork hooks.
 *                       It knows nothing of slabs, slots or stacks.
 *   heap_region_slab.c  the blocks: size classes, slabs cut into slots,
 *                       the per-slot record words and the lock-free unit
 *                       directory, large blocks (a run each), and every
 *                       other function of heap_region.h (alloc, free,
 *                       the thread caches' take/give, leak-check listing,
 *                       generations). It takes runs from heap_region_run.c.
 *
 * Every allocation the heap profiler samples is served from one address
 * range that nprof chooses at start (up to 64 GiB) but maps only as it is
 * used: nothing is reserved up front, because every mapping counts against
 * the program's RLIMIT_AS. free() tells a sampled pointer from all the
 * others with one subtract-and-compare against two globals (the used
 * part only; then one byte per 2 MiB chunk), no lock and no hash probe.
 * The block's stack id and requested size live in side tables, so the
 * program's bytes are never touched and alignment is not disturbed.
 *
 * Locking: one mutex, nprof__region_lock ("region_lock" in comments),
 * guards the runs, the bins, the side tables below and the slabs' free
 * lists; everything declared here is used with it held, except the
 * constants and unit_addr(). The lock-free paths are in heap_region_slab.c.
 */
#ifndef NPROF_HEAP_REGION_INT_H
#define NPROF_HEAP_REGION_INT_H

#include "heap_region.h"

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#define UNIT_SHIFT 16
#define UNIT ((size_t)1 << UNIT_SHIFT)
#define COMMIT_STEP ((size_t)2 << 20)
#define CHUNK_UNITS ((uint32_t)(COMMIT_STEP >> UNIT_SHIFT))
#define NONE 0xffffffffu

enum { SPAN_UNUSED = 0, SPAN_FREE, SPAN_SLAB, SPAN_LARGE };

/* The run starting at a unit: free (in a bin), a slab or a large block. */
struct span {
	uint32_t nunits;
	uint8_t kind;
	uint8_t cls;
	uint8_t arena;                   /* slabs: whose partial list (NARENA) */
	uint8_t dirty;                   /* free run: pages may be non-zero */
	uint32_t next, prev;             /* bin or partial-slab list; NONE ends */
	/* slabs */
	uint32_t nslots, used, bump, free_head;  /* free_head: slot + 1, 0 = none */
	uint64_t *meta;
	/* large blocks */
	uint32_t stack;
	uint16_t gen;
	size_t size;
};

/* Owned by heap_region_run.c (see there). spans[u] describes the run
 * starting at unit u; owner[u] names the run containing unit u; units
 * counts the range's units (0 before init), bump the units in use. */
extern pthread_mutex_t nprof__region_lock;
extern struct span *nprof__region_spans;
extern uint32_t *nprof__region_owner;
extern uint32_t nprof__region_units, nprof__region_bump;

static inline char *unit_addr(uint32_t u)
{
	return (char *)nprof__region_lo + ((size_t)u << UNIT_SHIFT);
}

/* Doubly linked lists of runs through spans[].next/prev (bins, and the
 * slabs' partial lists). */
static inline void list_push(uint32_t *head, uint32_t u)
{
	nprof__region_spans[u].prev = NONE;
	nprof__region_spans[u].next = *head;
	if (*head != NONE)
		nprof__region_spans[*head].prev = u;
	*head = u;
}

static inline void list_remove(uint32_t *head, uint32_t u)
{
	struct span *s = &nprof__region_spans[u];
	if (s->prev != NONE)
		nprof__region_spans[s->prev].next = s->next;
	else
		*head = s->next;
	if (s->next != NONE)
		nprof__region_spans[s->next].prev = s->prev;
	s->next = s->prev = NONE;
}

/* The run holding `p`, or NONE. */
static inline uint32_t run_of(const void *p)
{
	uint32_t pu = (uint32_t)(((uintptr_t)p - nprof__region_lo) >> UNIT_SHIFT);
	if (pu >= nprof__region_bump)
		return NONE;
	uint32_t u = nprof__region_owner[pu];
	if (u > pu || u >= nprof__region_bump || pu >= u + nprof__region_spans[u].nunits)
		return NONE;
	return u;
}

/* Finds a free range of address space (mapping it and unmapping it at
 * once) and returns its 64 KiB-aligned start in *lo and its length in
 * *len; nothing stays mapped. -ENOMEM when no range was found. No lock:
 * called once by nprof__region_init(). */
int nprof__region_run_find(uintptr_t *lo, size_t *len);

/* Makes the range [lo, lo + len) the region's (bins empty, nothing
 * mapped); nprof__region_units is non-zero from then on. */
void nprof__region_run_init(uintptr_t lo, size_t len);

/* A run of `n` units whose start is a multiple of `au` units, its units
 * mapped; returns its first unit or NONE (*dirty: it may hold old data).
 * The caller marks it (nprof__region_run_mark). */
uint32_t nprof__region_run_alloc(uint32_t n, uint32_t au, int *dirty);

/* Gives back the run [u, u + n): coalesces, bins, unmaps whole free
 * chunks, and returns memory past the kept amount to the kernel. */
void nprof__region_run_free(uint32_t u, uint32_t n, int dirty);

/* Records [u, u + n) as a run of `kind` in spans[u] and owner[]. */
void nprof__region_run_mark(uint32_t u, uint32_t n, int kind);

#endif /* NPROF_HEAP_REGION_INT_H */
