/*
 * leaks.h - leak suspects: the snapshot thread (snapshot.c) and the
 * ranking behind /debug/pprof/leaks (leaks.c). What only those two share
 * is leaks_int.h.
 */
#ifndef NPROF_LEAKS_H
#define NPROF_LEAKS_H

#include "profile.h"

/*
 * For /metrics (metrics.c): how many suspects of `kind` ("heap",
 * "threads" or "fds") /debug/pprof/leaks would rank now, over the ring's
 * whole window; 0 before there are enough snapshots to rank. Must be
 * cheap (a scrape runs it three times, every few seconds) and must not
 * wait for a fresh snapshot. Called on an HTTP thread, guard raised.
 */
long nprof__leaks_suspects(const char *kind);

/*
 * Starts the background snapshot thread (one of nprof's own: guard
 * raised, all signals blocked) that every nprof__cfg.snapshot_s seconds
 * records heap in-use bytes by stack, threads by (stack, wait reason) and
 * descriptors by (stack, kind) into a bounded ring. Called by nprof_start
 * after the profiles' init; logs and carries on without snapshots when the
 * thread cannot start. nprof__leaks_stop() wakes and joins it (promptly:
 * at most one snapshot in progress). After fork, the child forgets the
 * ring and the thread (which does not exist there) without touching locks.
 */
void nprof__leaks_start(void);
void nprof__leaks_stop(void);
void nprof__leaks_postfork_child(void);

/* GET /debug/pprof/leaks: text table, or format=json (docs/reference.md §4); seconds=N
 * ranks fresh snapshots taken over the next N seconds. */
void nprof__leaks_handle(const struct nprof_req *req, struct nprof_reply *rep);
/* Suspects the ring ranks now (all kinds), for the index. */
long nprof__leaks_count(void);

#endif /* NPROF_LEAKS_H */
