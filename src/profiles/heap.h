/*
 * heap.h - the heap and allocs profiles (heap.c): the sampling state the
 * malloc overrides read, the per-stack counters they feed, the handlers,
 * and the totals for /metrics and the leak snapshots.
 */
#ifndef NPROF_HEAP_H
#define NPROF_HEAP_H

#include <stddef.h>
#include <stdint.h>

#include "profile.h"

/* /debug/pprof/heap: debug=0 proto, debug=1 Go's text, seconds=N delta. */
void nprof__heap_handle(const struct nprof_req *req, struct nprof_reply *rep);

/* /debug/pprof/allocs: the same data, default_sample_type alloc_space. */
void nprof__allocs_handle(const struct nprof_req *req, struct nprof_reply *rep);

/* Stacks with a sampled allocation (the index's count, as Go's). */
long nprof__heap_count(void);

/* Heap samples not recorded because nprof's memory was full, all time. */
long nprof__heap_dropped(void);

/* For /metrics: process-wide totals, un-sampled as the heap profile's
 * values; all zero while heap profiling is off. */
struct nprof_heap_totals {
	int64_t inuse_bytes, inuse_objects;   /* live now */
	int64_t alloc_bytes, alloc_objects;   /* since start; never decrease */
};
void nprof__heap_totals(struct nprof_heap_totals *t);

/* For the leak snapshots (leaks.c): fn(ctx, stack, bytes, samples,
 * births) per stack with live sampled blocks: bytes un-sampled as the heap
 * profile's inuse_space, samples the sampled blocks alive, births the
 * sampled blocks ever allocated there. Lock-free reads, no allocation. */
void nprof__heap_each_inuse(void (*fn)(void *ctx, uint32_t stack, int64_t bytes,
				       int64_t samples, int64_t births), void *ctx);

/* foreign_malloc: another allocator was preloaded before nprof
 * (nprof__heap_foreign), so the heap profile stays off. */
void nprof__heap_init(int foreign_malloc);
void nprof__heap_prefork(void);
void nprof__heap_postfork(int child);

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

#endif /* NPROF_HEAP_H */
