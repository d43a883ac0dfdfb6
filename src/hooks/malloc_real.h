/*
 * malloc_real.h - between the malloc family's overrides (malloc_hooks.c)
 * and the allocator they forward to (malloc_real.c): the real functions,
 * the bootstrap pool, and whether another allocator or another copy of
 * nprof owns the global names.
 */
#ifndef NPROF_MALLOC_REAL_H
#define NPROF_MALLOC_REAL_H

#include "base.h"

#include <stddef.h>
#include <stdint.h>

typedef void *(*malloc_fn)(size_t);
typedef void *(*calloc_fn)(size_t, size_t);
typedef void *(*realloc_fn)(void *, size_t);
typedef void (*free_fn)(void *);
typedef void *(*memalign_fn)(size_t, size_t);
typedef int (*posix_memalign_fn)(void **, size_t, size_t);
typedef size_t (*usable_fn)(void *);

/* The real functions; until found, stubs that find them first. Hidden
 * (base.h): the fast paths jump through them with one load. */
extern NPROF_HIDDEN malloc_fn nprof__real_malloc;
extern NPROF_HIDDEN calloc_fn nprof__real_calloc;
extern NPROF_HIDDEN realloc_fn nprof__real_realloc;
extern NPROF_HIDDEN free_fn nprof__real_free;
extern NPROF_HIDDEN memalign_fn nprof__real_memalign;
extern NPROF_HIDDEN posix_memalign_fn nprof__real_posix_memalign;
extern NPROF_HIDDEN memalign_fn nprof__real_aligned_alloc;
extern NPROF_HIDDEN usable_fn nprof__real_usable;

/* Another allocator was preloaded before nprof: its free is the global
 * one, so nprof must never hand out a block of its own. */
extern NPROF_HIDDEN int nprof__alloc_foreign;
/* The global malloc is another copy of nprof's: this one is dormant. */
extern NPROF_HIDDEN int nprof__alloc_other_copy;

/* Non-zero when the real functions are usable by this thread: at once
 * once they are known (inline: every slow-path call asks), else after
 * finding them, or while this very thread is finding them, 0. */
extern NPROF_HIDDEN int nprof__alloc_usable;
int nprof__alloc_ready_slow(void);
static inline int nprof__alloc_ready(void)
{
	if (NPROF_LIKELY(__atomic_load_n(&nprof__alloc_usable, __ATOMIC_ACQUIRE)))
		return 1;
	return nprof__alloc_ready_slow();
}

/* The bootstrap pool: blocks handed out while dlsym finds the real
 * functions, zeroed, their size in the word before them, never freed. */
#define NPROF_POOL_SIZE 65536
extern NPROF_HIDDEN char nprof__pool[NPROF_POOL_SIZE];
void *nprof__pool_alloc(size_t n, size_t align);

static inline int nprof__in_pool(const void *p)
{
	return (uintptr_t)p - (uintptr_t)nprof__pool < NPROF_POOL_SIZE;
}

#endif /* NPROF_MALLOC_REAL_H */
