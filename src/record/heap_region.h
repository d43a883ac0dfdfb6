/*
 * heap_region.h - the sampled-block allocator (heap_region_slab.c and
 * heap_region_run.c, see heap_region_int.h): nprof's
 * own address range, from which every sampled allocation is served, so
 * that free() recognises a sampled pointer with one compare. Used by the
 * malloc family's overrides (hooks/malloc_hooks.c), the heap profile
 * (profiles/heap.c) and the leak checks (reach.c, api/check.c).
 *
 * The design and its maths are in docs/internals/heap.md.
 */
#ifndef NPROF_HEAP_REGION_H
#define NPROF_HEAP_REGION_H

#include "base.h"

#include <stddef.h>
#include <stdint.h>

/*
 * The sampled range [nprof__region_lo, nprof__region_lo + nprof__region_len).
 * Both are 0 until nprof__region_init() succeeds, so the test
 * `(uintptr_t)p - lo < len` is false for every pointer until then. Written
 * once, before the first sampled block exists; read without a lock by the
 * hooks.
 */
/* Hidden (base.h): free() reads them RIP-relative, with no GOT load. */
extern NPROF_HIDDEN uintptr_t nprof__region_lo;
extern NPROF_HIDDEN size_t nprof__region_len;
/* One byte per 2 MiB chunk of the range: 1 while nprof has it mapped.
 * Freed chunks below a block still in use are unmapped (they count
 * against RLIMIT_AS), and the program's own mappings may then land there:
 * a pointer in such a chunk is the real allocator's, not ours. Only read
 * once the cheap range test has passed, so unsampled frees never load it. */
#define NPROF_REGION_CHUNK_SHIFT 21
extern NPROF_HIDDEN unsigned char nprof__region_chunk[];

static inline int nprof__region_owns(const void *p)
{
	uintptr_t d = (uintptr_t)p - nprof__region_lo;
	return d < nprof__region_len &&
	       __atomic_load_n(&nprof__region_chunk[d >> NPROF_REGION_CHUNK_SHIFT],
			       __ATOMIC_ACQUIRE) != 0;
}

/*
 * Chooses the range (found free, nothing left mapped: units are mapped as
 * they are used) and sets up its side tables. 0, or -ENOMEM when no range
 * could be found (heap profiling then stays off). Idempotent.
 */
int nprof__region_init(void);

/*
 * A block of `size` bytes aligned to `align` (a power of two; <= 16 means
 * malloc's alignment) from the range, remembering `stack` and `size` for
 * the matching free. Zeroed when `zero`. NULL when the range or nprof's
 * arena is exhausted (the caller then uses the real allocator). Takes the
 * region lock; never calls malloc.
 */
void *nprof__region_alloc(size_t size, size_t align, int zero, uint32_t stack);

/*
 * Frees a block of the range. Stores the stack and requested size given at
 * allocation and returns 0; returns -1 (and frees nothing) for a pointer
 * that is not the start of a live block (a double or wild free).
 */
int nprof__region_free(void *p, uint32_t *stack, size_t *size);

/* ---- the lock-free small-block path (heap_thread.c's caches) ---- */

#define NPROF_REGION_NCLS 40
/* Slabs are kept apart per arena (0..NARENA-1; the locked path uses 0). */
#define NPROF_REGION_NARENA 4

/* What a unit of a slab tells a lock-free lookup (heap_region_slab.c). */
struct nprof_region_unit {
	uintptr_t base;         /* first byte of the slab over this unit; 0: none */
	uint64_t *meta;         /* the slab's per-slot words */
	uint64_t magic;         /* ceil(2^48 / size): slot = off * magic >> 48 */
	uint32_t size, nslots, cls;
};

/* The slab class for a block of `size` bytes aligned to `align`, or -1
 * for a large block (or before init). Lock-free. */
int nprof__region_class(size_t size, size_t align);
size_t nprof__region_class_size(int c);

/* Up to `max` free slots of class c, from slabs of `arena` (taken modulo
 * NPROF_REGION_NARENA), into out[], counted used but not yet
 * recorded; returns how many. Takes region_lock once. */
int nprof__region_take(int c, int arena, void **out, int max);

/* Gives back `n` slots taken and no longer recorded. Takes region_lock once. */
void nprof__region_give(void *const *ps, int n);

/* The meta word of the slab slot starting at p (in the range), and its
 * class in *cls; NULL when p is not a slot start of a slab. Lock-free:
 * valid while the slot is taken (live or in a thread's cache). */
uint64_t *nprof__region_slot(const void *p, int *cls);

/* Records a taken slot as a live block of `size` bytes at `stack`. */
void nprof__region_record(void *p, uint64_t *meta, size_t size, uint32_t stack);

/* Lock-free half of a free: for a live slab slot, clears its record into
 * stack, size, cls and meta (its record word) and returns 0 (the slot stays taken: give it back
 * or cache it); -1 for a slot not live (double free); 1 when p is not a
 * slab slot (a large block: use nprof__region_free). */
int nprof__region_unrecord(void *p, uint32_t *stack, size_t *size, int *cls, uint64_t **meta);

/* Usable size of a live block of the range (what malloc_usable_size says). */
size_t nprof__region_usable(const void *p);

/* Non-zero: every block gets one spare byte past its end (leak checks:
 * an end pointer then never points into the next block). */
extern int nprof__region_pad;

/* The stack id of blocks of nprof's own threads (their mallocs are served
 * from the range too): never a real id, never counted by a profile, never
 * listed to a leak check. */
#define NPROF_REGION_OWN_STACK 0xffffffffu

/* One live block of the range, as a leak check sees it. */
struct nprof_region_block {
	uintptr_t addr;
	size_t size;            /* requested bytes */
	uint32_t stack;
	uint16_t gen;           /* the generation it was made in */
};

/*
 * Copies up to `max` live blocks of the program (not those of nprof's own
 * threads), in address order, into `out` and returns
 * how many there are (call again with more room when that is > max).
 * Takes the region lock; never calls malloc.
 */
size_t nprof__region_blocks(struct nprof_region_block *out, size_t max);

/*
 * Starts a new generation of blocks and returns the previous one: blocks
 * stamped with a later generation were made after this call.
 */
uint16_t nprof__region_mark(void);

/* fork: take and release the region lock. */
void nprof__region_prefork(void);
void nprof__region_postfork(void);

#endif /* NPROF_HEAP_REGION_H */
