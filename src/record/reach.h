/*
 * reach.h - private interface of reach.c (the conservative reachability
 * scan of the heap) for check.c, its only user.
 */
#ifndef NPROF_REACH_H
#define NPROF_REACH_H

#include "heap_region.h"

#include <stddef.h>
#include <stdint.h>

/* State of a block after a scan. */
enum {
	NPROF_REACH_LEAKED = 0,         /* unreachable, and no leaked block points at it */
	NPROF_REACH_REACHABLE = 1,      /* reachable from a root */
	NPROF_REACH_INDIRECT = 2,       /* unreachable, pointed at by a leaked block */
};

struct nprof_reach {
	struct nprof_region_block *blocks;  /* n live blocks, address order (mmap'd) */
	uint8_t *state;                     /* per block: NPROF_REACH_* */
	size_t n, cap;
};

/*
 * Copies every live block of the sampled range and classifies each by a
 * conservative scan from the roots (module data, thread stacks and
 * registers, TLS, the brk heap). Returns 0, or -ENOMEM (nothing to free
 * then). Run with the hook guard raised; takes the region lock briefly;
 * not async-signal-safe.
 */
int nprof__reach_scan(struct nprof_reach *r);
void nprof__reach_free(struct nprof_reach *r);

/* Set once by check.c's constructor, on the main thread: its thread
 * pointer (its TCB; static TLS lies below), 0 when unknown. */
extern uintptr_t nprof__reach_main_tp;

#endif /* NPROF_REACH_H */
