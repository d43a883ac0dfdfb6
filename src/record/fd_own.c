/*
 * fd_own.c - whether nprof's serving descriptors are still its own.
 *
 * A program may close every descriptor with the raw close_range or close
 * system call (daemons do, before exec or after fork), which no hook sees.
 * hooks/fd_hooks.c notices it on nprof's own threads (its poll() checks
 * every descriptor they wait on) and marks the server lost here, once,
 * with one line; serve/http.c then abandons its daemons at exit instead
 * of stopping them, so nprof never reads, writes or closes a descriptor
 * it no longer owns (tests/integration/raw_close.sh). Profiles keep
 * recording; NPROF_OUT is still written. Serving is not restarted: new
 * listening descriptors would take the lowest free numbers and change the
 * ones the program gets next.
 *
 * Signals: nothing here runs in a signal handler. Lock-free.
 */
#include "base.h"
#include "fd.h"

#include <stdatomic.h>

static atomic_int serve_lost;

int nprof__fd_own_lost(void)
{
	return atomic_load(&serve_lost);
}

void nprof__fd_own_mark_lost(void)
{
	if (atomic_exchange(&serve_lost, 1) == 0)
		nprof__log("the program closed nprof's descriptors with a raw system call "
			   "(close_range or close); nprof stops serving and will not touch "
			   "them again; profiles keep recording and NPROF_OUT is still written");
}
