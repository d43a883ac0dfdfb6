/*
 * contention.h - the block and mutex profiles (contention.c), fed by the
 * pthread overrides in hooks/sync_hooks.c.
 */
#ifndef NPROF_CONTENTION_H
#define NPROF_CONTENTION_H

#include <stdint.h>

#include "profile.h"

/* The block rate (ns) and mutex fraction in force; -1 until read from
 * nprof__cfg on first use. Read by the overrides on their slow paths. */
extern _Atomic long nprof__block_rate;
extern _Atomic long nprof__mutex_fraction;

/* Threads registered as waiting for a mutex (mutex profile on). Zero
 * means pthread_mutex_unlock has nothing to charge: its override tests
 * only this, so with the mutex profile off an unlock costs one load. */
extern _Atomic long nprof__mutex_waiting;

/*
 * A wait that began at `start_ns` (CLOCK_MONOTONIC) in an interposed
 * primitive has just ended: samples it into the block profile as Go's
 * blockevent (every wait >= rate, shorter ones with probability d/rate),
 * charged to the stack of the override's caller. Call from the override
 * itself, on the waiting thread. Preserves errno; does nothing with the
 * rate off or the hook guard raised.
 */
void nprof__contention_block(int64_t start_ns);

/*
 * A thread is about to block on mutex `m` since `start_ns`: registers it
 * so that the unlocker can be charged its delay. Returns a slot for
 * nprof__mutex_wait_end, or -1 (mutex profile off, guard raised, table
 * full: nothing to end). Preserves errno; never waits for a lock its own
 * thread may hold.
 */
int nprof__mutex_wait_begin(const void *m, int64_t start_ns);

/* The waiter of `slot` (>= 0) has acquired the mutex or given up. */
void nprof__mutex_wait_end(int slot, int64_t start_ns);

/*
 * The calling thread is about to unlock `m` (call before the real
 * unlock): charges the registered waiters' delay since the previous
 * release to the caller's stack, sampled 1/fraction as Go's mutexevent.
 * Preserves errno.
 */
void nprof__mutex_unlocking(const void *m);

/* /debug/pprof/block and /debug/pprof/mutex: debug=0 proto, debug=1
 * Go's "--- contention:" / "--- mutex:" text, seconds=N delta. */
void nprof__block_handle(const struct nprof_req *req, struct nprof_reply *rep);
void nprof__mutex_handle(const struct nprof_req *req, struct nprof_reply *rep);

/* Stacks with a recorded event, for the index. */
long nprof__block_count(void);
long nprof__mutex_count(void);

#endif /* NPROF_CONTENTION_H */
