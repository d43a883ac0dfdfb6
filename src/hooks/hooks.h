/*
 * hooks.h - what the rest of nprof calls in the libc overrides: resolving
 * the real functions (preload.c), rebinding an attached process
 * (got_patch.c) and the malloc family's state (malloc_hooks.c).
 */
#ifndef NPROF_HOOKS_H
#define NPROF_HOOKS_H

#include <stddef.h>

/* got_patch.c: in a process nprof was attached to, bind the references
 * already resolved to libc's versions of the functions nprof overrides to
 * nprof's (number of slots changed); and put them back, except the malloc
 * family's (number restored). Called under nprof_start/stop's lock. */
size_t nprof__got_redirect(void);
size_t nprof__got_restore(void);

/* malloc_hooks.c: own 1 serves every allocation of the calling thread
 * from nprof's sampled range rather than from a glibc arena of its own;
 * own 0 returns the thread to sampling. */
void nprof__heap_thread_own(int own);

/* limit_hooks.c: nprof__as_watch is non-zero while the program's
 * RLIMIT_AS is finite, nprof__as_near while its address space is near
 * that limit as last measured (then malloc_hooks.c looks at every block
 * glibc returns). nprof__as_learn reads the limit now, nprof__as_recheck
 * measures again (a read of /proc; from malloc's slow path only). nprof__as_rescue returns `p`, or, for a small
 * block glibc had to map on its own page, an equal block of the sampled
 * range - left as it is (fill 0), zeroed (1) or holding p's n bytes (2) -
 * `p` then given back through real_free. */
extern int nprof__as_watch;
extern int nprof__as_near;
void nprof__as_learn(void);
void nprof__as_recheck(void);
void *nprof__as_rescue(void *p, size_t n, int fill, void (*real_free)(void *));

/* glibc's DEFAULT_MMAP_THRESHOLD_MIN: below it glibc maps a block on its
 * own only in its fallback (unless the program lowered M_MMAP_THRESHOLD
 * itself; its blocks are then moved too, which changes nothing it can
 * see). */
#define NPROF_AS_RESCUE_BELOW ((size_t)128 << 10)

/* Non-zero for a block of n bytes glibc mapped on a page of its own
 * although it is below every mmap threshold (its chunk's size word has
 * IS_MMAPPED, bit 1): what nprof__as_rescue moves. Inline, so that the
 * usual answer, no, costs no call. */
static inline int nprof__as_alone(const void *p, size_t n)
{
	return p != NULL && n < NPROF_AS_RESCUE_BELOW && (((const size_t *)p)[-1] & 2);
}

/* Resolves the real functions nprof overrides (dlsym RTLD_NEXT). */
void nprof__preload_init(void);

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

#endif /* NPROF_HOOKS_H */
