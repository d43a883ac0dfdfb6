/*
 * heap_region.h - the sampled-block allocator (heap_region.c): nprof's
 * own address range, from which every sampled allocation is served, so
 * that free() recognises a sampled pointer with one compare. Used by the
 * malloc family's overrides (hooks/malloc_hooks.c), the heap profile
 * (profiles/heap.c) and the leak checks (reach.c, api/check.c).
 *
 * The design and its maths are in docs/internals/heap.md.
 */
#ifndef NPROF_HEAP_REGION_H
#define NPROF_HEAP_REGION_H

#include <stddef.h>
#include <stdint.h>

/*
 * The sampled range [nprof__region_lo, nprof__region_lo + nprof__region_len).
 * Both are 0 until nprof__region_init() succeeds, so the test
 * `(uintptr_t)p - lo < len` is false for every pointer until then. Written
 * once, before the first sampled block exists; read without a lock by the
 * hooks.
 */
extern uintptr_t nprof__region_lo;
extern size_t nprof__region_len;
/* One byte per 2 MiB chunk of the range: 1 while nprof has it mapped.
 * Freed chunks below a block still in use are unmapped (they count
 * against RLIMIT_AS), and the program's own mappings may then land there:
 * a pointer in such a chunk is the real allocator's, not ours. Only read
 * once the cheap range test has passed, so unsampled frees never load it. */
#define NPROF_REGION_CHUNK_SHIFT 21
extern unsigned char nprof__region_chunk[];

static inline int nprof__region_owns(const void *p)
{
	uintptr_t d = (uintptr_t)p - nprof__region_lo;
	return d < nprof__region_len &&
	       __atomic_load_n(&nprof__region_chunk[d >> NPROF_REGION_CHUNK_SHIFT],
			       __ATOMIC_ACQUIRE) != 0;
}

/*
 * Reserves the range (PROT_NONE, no memory committed) and its side tables.
 * 0, or -ENOMEM when no range could be reserved (heap profiling then stays
 * off). Idempotent.
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
