/*
 * arena.h - nprof's own memory (arena.c): mmap'd, bounded, never the
 * host's malloc. Two budgets: samples (recording) and serving (nprof's own
 * threads), so a full sample budget never fails a response.
 */
#ifndef NPROF_ARENA_H
#define NPROF_ARENA_H

#include <stddef.h>

#include "base.h"

/*
 * Allocates `size` bytes of zeroed memory from nprof's mmap arena, never
 * from malloc. Returns NULL (and counts a drop) when the arena's bound is
 * reached. Thread-safe; not async-signal-safe.
 */
void *nprof__arena_alloc(size_t size);

/* Returns memory from nprof__arena_alloc(); NULL is ignored. */
void nprof__arena_free(void *p);

/* Grows or shrinks an arena block, as realloc. */
void *nprof__arena_realloc(void *p, size_t size);

/* Bytes currently held by the arena for samples, and its bound. */
size_t nprof__arena_used(void);
/* Bytes held for serving (the separate budget of nprof's own threads). */
size_t nprof__arena_serve_used(void);
/*
 * Non-zero on threads that serve (nprof's own threads, and a caller of
 * nprof_write_profile while it runs): their allocations are charged to
 * the serving budget, so a full sample budget never fails a response.
 */
extern NPROF_TLS int nprof__arena_serving;
size_t nprof__arena_limit(void);
/* Freed big mappings kept for reuse (not counted as used). */
size_t nprof__arena_cached(void);
/* Gives back each kept mapping unused for idle_ns. */
void nprof__arena_trim(int64_t idle_ns);
/* Sets the bound (NPROF_ARENA_MB; tests use it to inject exhaustion). */
void nprof__arena_set_limit(size_t bytes);

/* fork handlers: take every arena lock before fork, release after. */
void nprof__arena_prefork(void);
void nprof__arena_postfork(void);

#endif /* NPROF_ARENA_H */
