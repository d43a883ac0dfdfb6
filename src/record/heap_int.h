/*
 * heap_int.h - private interface between the three files of the heap
 * profiler:
 *
 *   malloc_hooks.c  the exported malloc family: the per-thread sampling
 *                   countdown, the bootstrap pool, the real functions
 *   heap_region.c   the sampled-block allocator: nprof's own address range,
 *                   from which every sampled allocation is served, so that
 *                   free() recognises a sampled pointer with one compare
 *   heap_thread.c   per-thread state: slot caches, the stack cache, the
 *                   counter shard (rate 1 without a global lock)
 *   heap.c          per-stack counters, the heap/allocs profiles, NPROF_OUT
 *
 * The design and its maths are in docs/internals/heap.md.
 */
#ifndef NPROF_HEAP_INT_H
#define NPROF_HEAP_INT_H

#include <stddef.h>
#include <stdint.h>

/* ------------------------------------------------------------------ */
/* heap_region.c                                                       */
/* ------------------------------------------------------------------ */

/*
 * The sampled range [nprof__region_lo, nprof__region_lo + nprof__region_len).
 * Both are 0 until nprof__region_init() succeeds, so the test
 * `(uintptr_t)p - lo < len` is false for every pointer until then. Written
 * once, before the first sampled block exists; read without a lock by the
 * hooks.
 */
/* Hidden: free() then reads them RIP-relative, with no GOT load (they
 * never leave libnprof, but an extern declaration is otherwise assumed
 * preemptible under -fPIC). */
#define NPROF_HIDDEN __attribute__((visibility("hidden")))
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

/* ---- the lock-free small-block path (heap_thread.c's caches) ---- */

#define NPROF_REGION_NCLS 40

/* What a unit of a slab tells a lock-free lookup (heap_region.c). */
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

/* Up to `max` free slots of class c into out[], counted used but not yet
 * recorded; returns how many. Takes region_lock once. */
int nprof__region_take(int c, void **out, int max);

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

/* ------------------------------------------------------------------ */
/* heap_thread.c: per-thread slot caches, stack cache, counter shard     */
/* ------------------------------------------------------------------ */

/* A small sampled block from the calling thread's slot cache, recorded at
 * `stack`; NULL when the thread has no cache yet or the block is large
 * (use nprof__region_alloc). Lock-free except to refill. */
void *nprof__heap_thread_alloc(size_t size, size_t align, int zero, uint32_t stack);

/* Frees a block of the range as nprof__region_free does (same results);
 * a small one goes to the thread's cache, lock-free except to flush. */
int nprof__heap_thread_free(void *p, uint32_t *stack, size_t *size);

/* Threads with an exclusive counter shard: those with a state numbered
 * below this. */
#define NPROF_HEAP_SHARDS 16

/* The calling thread's exclusive counter shard (0..NPROF_HEAP_SHARDS-1),
 * or -1: use the shared, atomic one. */
int nprof__heap_thread_shard(void);

/*
 * The stack cache. `ra` is the return address the hook saw and `a0` the
 * address of the stack slot holding it. get: the interned stack id
 * remembered for (ra, a0) when every remembered slot still holds its
 * value, else 0. put: remembers that id with the n slots above a0 and
 * the return addresses read from them.
 */
uint32_t nprof__heap_thread_stack_get(uintptr_t ra, uintptr_t a0);
void nprof__heap_thread_stack_put(uintptr_t ra, uintptr_t a0, uint32_t id, const uintptr_t *slots,
				  const uintptr_t *vals, int n);

void nprof__heap_thread_postfork_child(void);

/*
 * unwind.c, for the stack cache: the calling thread's stack, innermost
 * first from the caller of this function, as return addresses in pcs[]
 * and in slots[] the address each was read from (0 when it cannot be
 * vouched for: the frame a signal interrupted). Returns the number of
 * frames (<= max), or -1 when libunwind's step API is missing.
 */
int nprof__unwind_here_slots(uintptr_t *pcs, uintptr_t *slots, int max);

/* ------------------------------------------------------------------ */
/* malloc_hooks.c                                                      */
/* ------------------------------------------------------------------ */

/*
 * Non-zero when another allocator was preloaded before nprof and owns the
 * global malloc names: nprof's hooks are then bypassed and never sample.
 */
int nprof__heap_foreign(void);

/*
 * Two copies of nprof in one process (a program linking libnprof.a, run
 * with libnprof.so preloaded). other_copy: non-zero in the copy whose
 * global malloc is the other's; it is dormant and never starts.
 * copy_behind: non-zero in the copy that owns the global names when the
 * next definition is another (dormant) copy's; it starts in its place.
 */
int nprof__heap_other_copy(void);
int nprof__heap_copy_behind(void);

/* ------------------------------------------------------------------ */
/* heap.c: the sampling state and the per-stack counters                */
/* ------------------------------------------------------------------ */

/*
 * Mean bytes between samples, as the hooks must apply it now: -1 before
 * nprof_start configured it, 0 while heap profiling is off (configured
 * so, in a forked child, when the range could not be reserved), 1 for
 * every allocation. Read by the hooks'
 * slow path without a lock.
 */
extern volatile long nprof__heap_rate;

/*
 * Captures the calling thread's stack, starting at the frame whose return
 * address is `ra` (the caller of the interposed function), interns it and
 * makes sure its counters exist. Returns the stack id, or 0 when the
 * sample must be dropped (counted). The hook guard must be raised.
 */
uint32_t nprof__heap_capture(const void *ra);

/* Counts one sampled allocation / free of `size` bytes at stack `id`. */
void nprof__heap_note_alloc(uint32_t id, size_t size);
void nprof__heap_note_free(uint32_t id, size_t size);

/* Counts a sample that could not be recorded. */
void nprof__heap_note_drop(void);

#endif /* NPROF_HEAP_INT_H */
