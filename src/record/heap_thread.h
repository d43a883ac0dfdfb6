/*
 * heap_thread.h - per-thread state of the heap recorder (heap_thread.c):
 * slot caches over the sampled range, the stack cache, the counter shard.
 * Used by the malloc family's overrides (hooks/malloc_hooks.c) and the
 * heap profile (profiles/heap.c); docs/internals/heap.md, "Recording
 * every allocation".
 */
#ifndef NPROF_HEAP_THREAD_H
#define NPROF_HEAP_THREAD_H

#include <stddef.h>
#include <stdint.h>

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

/* Non-zero when a capture that missed should walk the stack recording
 * slots, to fill the stack cache; 0: the plain, faster walk (no cache,
 * or recent misses outnumber hits). */
int nprof__heap_thread_caching(void);

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

#endif /* NPROF_HEAP_THREAD_H */
