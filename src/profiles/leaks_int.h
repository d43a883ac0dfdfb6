/*
 * leaks_int.h - private interface between the files behind
 * /debug/pprof/leaks:
 *
 *   snapshot.c  the series table, taking one snapshot (heap in-use bytes
 *               by stack, threads by stack and wait reason, descriptors by
 *               stack and kind), the bounded ring and the thread that
 *               fills it every NPROF_SNAPSHOT
 *   leaks_rank.c ranking the series that grow steadily
 *   leaks.c     grouping and symbolizing the suspects, the handler (text
 *               and docs/reference.md §4's JSON)
 *
 * docs/internals/leaks.md has the design and the maths.
 */
#ifndef NPROF_LEAKS_INT_H
#define NPROF_LEAKS_INT_H

#include <stddef.h>
#include <stdint.h>

/* What a series counts. */
enum {
	NPROF_SERIES_HEAP = 0,      /* in-use bytes (un-sampled) at one allocating stack */
	NPROF_SERIES_THREADS,       /* threads at one stack with one wait reason */
	NPROF_SERIES_FDS,           /* open descriptors of one kind from one creating stack */
	NPROF_SERIES_KINDS
};

/*
 * One series: a key that a snapshot gives a value to. Written once when
 * the series is first seen (before any snapshot naming it is published),
 * never changed after, except `creator`, which a later thread may fill in
 * when the first one had none.
 */
struct nprof_series {
	uint8_t kind;               /* NPROF_SERIES_* */
	uint16_t label;             /* threads: wait reason; fds: kind; heap: 0 */
	uint32_t stack;             /* interned stack id (never 0) */
	uint32_t creator;           /* threads: a creating stack seen; 0 unknown */
};

/* One value of one snapshot (24 bytes). */
struct nprof_snap_entry {
	uint32_t series;            /* index into the series table */
	uint32_t aux;               /* heap: sampled blocks alive (the evidence); else 0 */
	int64_t value;
	uint32_t births;            /* heap: sampled blocks ever allocated (wraps); else 0 */
};

/* One snapshot: immutable once taken; entries sorted by series. */
struct nprof_snap {
	int64_t t_ns;               /* CLOCK_MONOTONIC when it started */
	size_t n;
	struct nprof_snap_entry e[];
};

/*
 * Takes one snapshot now (arena memory; nprof__arena_free it). NULL when
 * out of memory or when nothing could be listed. Serialised with other
 * takers only where it must be (the thread dump, the series table).
 * Caller has the hook guard raised. Not for signal handlers.
 */
struct nprof_snap *nprof__snap_take(void);

/* The series with index `i` (lock-free; valid for any index that a
 * published snapshot names). */
const struct nprof_series *nprof__series_at(uint32_t i);

/* The text of a label ("pthread_cond_wait", "socket-tcp"); "" for 0. */
const char *nprof__snap_label(uint16_t label);

/* The value of `series` in `s` (0 when absent): binary search. With
 * `aux` non-NULL, also its aux (0 when absent). */
int64_t nprof__snap_value(const struct nprof_snap *s, uint32_t series);
int64_t nprof__snap_value_aux(const struct nprof_snap *s, uint32_t series, uint32_t *aux,
			      uint32_t *births);

/*
 * The ring, oldest first. Lock it, read `snaps[0..n)` (the snapshots stay
 * valid while it is locked), unlock. Held only for computation: never
 * across symbolization or I/O.
 */
struct nprof_ring_view {
	struct nprof_snap *const *snaps;
	size_t n;
	double interval_s;          /* nprof__cfg.snapshot_s */
	size_t bytes;               /* entry bytes held */
	long thinned;               /* snapshots dropped to stay in budget */
	long truncated;             /* entries dropped: snapshot or series table too big */
	long failed;                /* snapshots that could not be taken */
};
void nprof__ring_lock(struct nprof_ring_view *v);
void nprof__ring_unlock(void);

/* ------------------------------------------------------------------ */
/* leaks_rank.c: the ranking                                           */
/* ------------------------------------------------------------------ */

/* A series needs this many points before it can be judged: with fewer,
 * three rising steps in a row happen by chance. */
#define NPROF_LEAKS_MIN_POINTS 5
/* Below this confidence a series is not a suspect. */
#define NPROF_LEAKS_MIN_CONFIDENCE 0.5

/* A suspect folded into a group: what its row would have said. */
struct nprof_related {
	uint32_t series;
	int kind;
	int64_t start, end;
	double slope, confidence, window;
};

struct nprof_suspect {
	uint32_t series;
	int kind;
	int64_t start, end;
	double slope;               /* least squares, per second */
	double confidence;          /* r2 * mono * spread * persist, in [0, 1] */
	double window;              /* seconds of the window judged */
	int grouped;                /* folded into another suspect (see group()) */
	int weak;                   /* below NPROF_LEAKS_MIN_CONFIDENCE: may only join a group */
	int nrel;                   /* related suspects folded into this one */
	struct nprof_related rel[4];
	uintptr_t site_pc;          /* a group's site: the frame creating them all */
	int site_depth;             /* its index in the creating stack */
};

/*
 * Ranks the series of snaps[0..m) (oldest first). Candidates are the
 * series of the newest snapshot (a leak holds something now) that grew by
 * at least a minimum since the oldest. Returns an arena array of the
 * suspects, best first, with *n set; NULL with *n = 0 when there are none,
 * too few points, or no memory.
 */
struct nprof_suspect *nprof__leaks_rank_snaps(struct nprof_snap *const *snaps, size_t m,
					      size_t *n);
/* Ranks the ring; *window = its span in seconds, *points its length, and
 * the ring's counters in *info when given. */
struct nprof_suspect *nprof__leaks_rank_ring(size_t *n, double *window, size_t *points,
					     struct nprof_ring_view *info);
/* qsort order of suspects: best first. */
int nprof__leaks_rank_cmp(const void *a, const void *b);

#endif /* NPROF_LEAKS_INT_H */
