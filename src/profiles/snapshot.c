/*
 * snapshot.c - the background snapshots behind /debug/pprof/leaks and the
 * leak gauges of /metrics.
 *
 * Owns
 *   - the series table: one struct nprof_series per (kind, stack, label)
 *     ever seen - heap in-use bytes at an allocating stack, threads at a
 *     stack with a wait reason, descriptors of a kind from a creating
 *     stack. Stored in arena chunks of SER_CHUNK behind a static directory
 *     (never moved, so readers need no lock), found through an
 *     open-addressing hash of indexes that only interning touches.
 *   - the label table: wait reasons and descriptor kinds, as short strings
 *     in a static array (a handful in any program).
 *   - the ring: pointers to immutable snapshots, oldest first, spanning
 *     an hour: every NPROF_SNAPSHOT (default 1 s) for the last minute, one
 *     per 5 s before that (a fast leak is seen within seconds, a slow one
 *     over the hour), holding at most RING_BUDGET bytes of entries. Over budget, the older half is thinned (every
 *     second snapshot dropped), so the ring keeps its whole hour at a
 *     coarser step instead of forgetting the start of a leak; drops are
 *     counted.
 *   - the snapshot thread: one of nprof's own (hook guard raised, every
 *     signal blocked, never listed in dumps), taking a snapshot every
 *     NPROF_SNAPSHOT and sleeping on a condition variable so that stop
 *     wakes it at once.
 *
 * A snapshot costs one thread dump (nprof__threads_collect, which never
 * signals or stops the program's threads), one walk of the heap counters
 * and one listing of /proc/self/fd; the program is never paused longer
 * than a dump would pause it, and is not paused at all by the rest.
 *
 * Locking
 *   tab_lock   the series hash and the label table, while interning.
 *   ring_lock  the ring; held by readers (leaks.c) for computation only.
 *   ctl_lock   the thread's start/stop state and its sleep.
 *   Never two at once, and none while taking the thread dump. Each may
 *   allocate from the arena (arena lock inside). After fork, the child
 *   forgets everything (the thread is not there) without taking a lock.
 *
 * Signals: nothing here may run in a signal handler.
 */
#include "arena.h"
#include "base.h"
#include "fd_report.h"
#include "heap.h"
#include "leaks.h"
#include "leaks_int.h"
#include "symbolize.h"
#include "threads.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* At most this many bytes of snapshot entries (24 bytes each) in the ring:
 * 4 MiB keeps, say, 200 live series per snapshot for the ~780 snapshots
 * of an hour (a minute at 1 s, then 5 s) before thinning starts. */
#define RING_BUDGET ((size_t)4 << 20)
/* One snapshot may use at most an eighth of the budget; beyond, the
 * smallest heap series are left out of it (threads and descriptors first:
 * they are few and each names a blocked or open thing). */
#define SNAP_MAX_ENTRIES (RING_BUDGET / 8 / sizeof(struct nprof_snap_entry))
/* The ring never thins below this many snapshots. */
#define RING_MIN_KEEP 16
/* The ring's span, and its recent part kept at the fine step
 * (NPROF_SNAPSHOT, default 1 s); before it, one snapshot per
 * COARSE_STEP_S (or per NPROF_SNAPSHOT when that is longer). */
#define WINDOW_S 3600.0
/* A thread waiting for less than this is not counted (see snap_take). */
#define STUCK_NS 1000000000LL
#define RECENT_S 60.0
#define COARSE_STEP_S 5.0

#define SER_CHUNK 4096
#define SER_DIR 64                  /* 262,144 series at most */
#define MAX_LABELS 256
#define LABEL_LEN 48

static struct nprof_series *_Atomic ser_dir[SER_DIR];
static uint32_t ser_n;                      /* tab_lock */
static uint32_t *ser_hash;                  /* idx + 1, 0 = empty; tab_lock */
static size_t ser_hash_cap;
static char labels[MAX_LABELS][LABEL_LEN];
static int nlabels = 1;                     /* label 0 is "" */

static struct nprof_snap **ring;            /* ring_lock */
static size_t ring_cap, ring_n, ring_bytes;
static long ring_thinned, ring_truncated, ring_failed;

static pthread_mutex_t tab_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_mutex_t ring_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_mutex_t ctl_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t ctl_cond;
static int ctl_cond_ready, thread_running, stop_requested;
static pthread_t snap_thread;


/* ------------------------------------------------------------------ */
/* Series and labels                                                   */
/* ------------------------------------------------------------------ */

const struct nprof_series *nprof__series_at(uint32_t i)
{
	struct nprof_series *c = atomic_load_explicit(&ser_dir[i / SER_CHUNK],
						      memory_order_acquire);
	return c != NULL ? &c[i % SER_CHUNK] : NULL;
}

const char *nprof__snap_label(uint16_t label)
{
	return label < MAX_LABELS ? labels[label] : "";
}

/* The label of `s` (truncated to LABEL_LEN - 1); 0 when the table is
 * full. tab_lock held. */
static uint16_t label_locked(const char *s)
{
	if (s == NULL || s[0] == '\0')
		return 0;
	for (int i = 1; i < nlabels; i++)
		if (strncmp(labels[i], s, LABEL_LEN - 1) == 0)
			return (uint16_t)i;
	if (nlabels == MAX_LABELS)
		return 0;
	strncpy(labels[nlabels], s, LABEL_LEN - 1);
	return (uint16_t)nlabels++;
}

static uint32_t key_hash(int kind, uint32_t stack, uint16_t label)
{
	uint64_t h = ((uint64_t)stack << 24 | (uint64_t)label << 8 | (uint64_t)kind) *
		     0x9e3779b97f4a7c15ULL;
	return (uint32_t)(h >> 32);
}

/* Doubles the hash; -ENOMEM leaves the old one in place. tab_lock held. */
static int hash_grow_locked(void)
{
	size_t ncap = ser_hash_cap ? ser_hash_cap * 2 : 1024;
	uint32_t *n = nprof__arena_alloc(sizeof *n * ncap);
	if (n == NULL)
		return -ENOMEM;
	for (size_t i = 0; i < ser_hash_cap; i++) {
		if (ser_hash[i] == 0)
			continue;
		const struct nprof_series *s = nprof__series_at(ser_hash[i] - 1);
		size_t j = key_hash(s->kind, s->stack, s->label) & (ncap - 1);
		while (n[j] != 0)
			j = (j + 1) & (ncap - 1);
		n[j] = ser_hash[i];
	}
	nprof__arena_free(ser_hash);
	ser_hash = n;
	ser_hash_cap = ncap;
	return 0;
}

/*
 * The index of series (kind, stack, label), created on first sight, or
 * -1 when the table or the arena is full (the caller counts a drop).
 * Takes tab_lock.
 */
static int64_t series_get(int kind, uint32_t stack, const char *label, uint32_t creator)
{
	int64_t idx = -1;
	pthread_mutex_lock(&tab_lock);
	uint16_t lb = label_locked(label);
	if ((ser_n + 1) * 2 > ser_hash_cap && hash_grow_locked() < 0)
		goto out;
	size_t j = key_hash(kind, stack, lb) & (ser_hash_cap - 1);
	for (; ser_hash[j] != 0; j = (j + 1) & (ser_hash_cap - 1)) {
		struct nprof_series *s = (struct nprof_series *)nprof__series_at(ser_hash[j] - 1);
		if (s->kind == kind && s->stack == stack && s->label == lb) {
			/* A thread group whose first thread had no known creator
			 * takes the first one that has. */
			if (s->creator == 0 && creator != 0)
				s->creator = creator;
			idx = ser_hash[j] - 1;
			goto out;
		}
	}
	if (ser_n >= (uint32_t)SER_DIR * SER_CHUNK)
		goto out;
	uint32_t c = ser_n / SER_CHUNK;
	struct nprof_series *chunk = atomic_load_explicit(&ser_dir[c], memory_order_relaxed);
	if (chunk == NULL) {
		chunk = nprof__arena_alloc(sizeof *chunk * SER_CHUNK);
		if (chunk == NULL)
			goto out;
		atomic_store_explicit(&ser_dir[c], chunk, memory_order_release);
	}
	struct nprof_series *s = &chunk[ser_n % SER_CHUNK];
	s->kind = (uint8_t)kind;
	s->stack = stack;
	s->label = lb;
	s->creator = creator;
	idx = ser_n++;
	ser_hash[j] = (uint32_t)idx + 1;
out:
	pthread_mutex_unlock(&tab_lock);
	return idx;
}

/* ------------------------------------------------------------------ */
/* Taking a snapshot                                                   */
/* ------------------------------------------------------------------ */

/* Entries as they are gathered, before sorting and merging. */
struct gather {
	struct nprof_snap_entry *e;
	size_t n, cap;
	long dropped;
};

static void add(struct gather *g, int kind, uint32_t stack, const char *label,
		uint32_t creator, int64_t value, uint32_t aux, uint32_t births)
{
	if (stack == 0)
		return; /* no stack, no line to name: not a leak suspect */
	int64_t idx = series_get(kind, stack, label, creator);
	if (idx < 0) {
		g->dropped++;
		return;
	}
	if (g->n == g->cap) {
		size_t ncap = g->cap ? g->cap * 2 : 256;
		void *p = nprof__arena_realloc(g->e, sizeof *g->e * ncap);
		if (p == NULL) {
			g->dropped++;
			return;
		}
		g->e = p;
		g->cap = ncap;
	}
	g->e[g->n++] = (struct nprof_snap_entry){(uint32_t)idx, aux, value, births};
}

static void add_heap(void *ctx, uint32_t stack, int64_t bytes, int64_t samples, int64_t births)
{
	add(ctx, NPROF_SERIES_HEAP, stack, NULL, 0, bytes,
	    samples < 0 ? 0 : samples > UINT32_MAX ? UINT32_MAX : (uint32_t)samples,
	    (uint32_t)births);
}

static void add_fds(void *ctx, uint32_t stack, const char *kind, int64_t count)
{
	add(ctx, NPROF_SERIES_FDS, stack, kind, 0, count, 0, 0);
}

static int cmp_series(const void *a, const void *b)
{
	const struct nprof_snap_entry *x = a, *y = b;
	return (x->series > y->series) - (x->series < y->series);
}

/* Threads and descriptors before heap series, larger values first: what
 * a too-big snapshot keeps. */
static int cmp_keep(const void *a, const void *b)
{
	const struct nprof_snap_entry *x = a, *y = b;
	int hx = nprof__series_at(x->series)->kind == NPROF_SERIES_HEAP;
	int hy = nprof__series_at(y->series)->kind == NPROF_SERIES_HEAP;
	if (hx != hy)
		return hx - hy;
	return (x->value < y->value) - (x->value > y->value);
}

struct nprof_snap *nprof__snap_take(void)
{
	struct gather g = {0};
	int64_t t0 = nprof__mono_ns();
	int listed = 0;

	struct nprof_thread_set ts;
	/* No names: a series is (stack, wait reason, creator), and a thread
	 * parked in an interposed wait then costs no system call at all (a
	 * snapshot of 10,000 parked threads read 10,000 files every second). */
	if (nprof__threads_collect(&ts, NPROF_COLLECT_STACKS | NPROF_COLLECT_NO_NAMES) == 0) {
		for (size_t i = 0; i < ts.n; i++) {
			const struct nprof_thread_info *ti = &ts.t[i];
			/* A thread nprof saw begin its wait less than STUCK_NS
			 * ago is working (a pool worker woken for each request),
			 * not stuck: it is not counted. A leaked thread is
			 * counted from STUCK_NS after it blocked, for good. */
			if (ti->wait_kind == NPROF_WAITK_EXACT && ti->wait_ns < STUCK_NS)
				continue;
			add(&g, NPROF_SERIES_THREADS, ti->stack, ti->wait, ti->creator_stack, 1, 0, 0);
		}
		nprof__threads_set_free(&ts);
		listed = 1;
	}
	nprof__heap_each_inuse(add_heap, &g);
	if (nprof__fd_each_group(add_fds, &g) == 0)
		listed = 1;
	if (!listed) {
		nprof__arena_free(g.e);
		return NULL;
	}

	/* Merge equal series (one entry per thread so far). */
	size_t n = 0;
	if (g.n > 0) {
		qsort(g.e, g.n, sizeof *g.e, cmp_series);
		for (size_t i = 0; i < g.n; i++) {
			if (n > 0 && g.e[n - 1].series == g.e[i].series) {
				g.e[n - 1].value += g.e[i].value;
				g.e[n - 1].aux += g.e[i].aux;
				g.e[n - 1].births += g.e[i].births;
			} else {
				g.e[n++] = g.e[i];
			}
		}
	}
	if (n > SNAP_MAX_ENTRIES) {
		qsort(g.e, n, sizeof *g.e, cmp_keep);
		g.dropped += (long)(n - SNAP_MAX_ENTRIES);
		n = SNAP_MAX_ENTRIES;
		qsort(g.e, n, sizeof *g.e, cmp_series);
	}
	struct nprof_snap *s = nprof__arena_alloc(sizeof *s + sizeof s->e[0] * n);
	if (s != NULL) {
		s->t_ns = t0;
		s->n = n;
		if (n > 0)
			memcpy(s->e, g.e, sizeof s->e[0] * n);
	}
	nprof__arena_free(g.e);
	if (g.dropped > 0) {
		pthread_mutex_lock(&ring_lock);
		ring_truncated += g.dropped;
		pthread_mutex_unlock(&ring_lock);
	}
	return s;
}

int64_t nprof__snap_value(const struct nprof_snap *s, uint32_t series)
{
	return nprof__snap_value_aux(s, series, NULL, NULL);
}

int64_t nprof__snap_value_aux(const struct nprof_snap *s, uint32_t series, uint32_t *aux,
			      uint32_t *births)
{
	size_t lo = 0, hi = s->n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (s->e[mid].series < series)
			lo = mid + 1;
		else
			hi = mid;
	}
	int hit = lo < s->n && s->e[lo].series == series;
	if (aux != NULL)
		*aux = hit ? s->e[lo].aux : 0;
	if (births != NULL)
		*births = hit ? s->e[lo].births : 0;
	return hit ? s->e[lo].value : 0;
}

/* ------------------------------------------------------------------ */
/* The ring                                                            */
/* ------------------------------------------------------------------ */

static size_t snap_bytes(const struct nprof_snap *s)
{
	return sizeof *s + sizeof s->e[0] * s->n;
}

/* Drops every second snapshot of the older half (keeping the oldest, so
 * the window's start stays). ring_lock held. */
static void thin_locked(void)
{
	size_t half = ring_n / 2, out = 1;
	for (size_t i = 1; i < ring_n; i++) {
		if (i < half && i % 2 == 1) {
			ring_bytes -= snap_bytes(ring[i]);
			nprof__arena_free(ring[i]);
			ring_thinned++;
			continue;
		}
		ring[out++] = ring[i];
	}
	ring_n = out;
}

/* The coarse step of the ring beyond its recent minute. */
static double coarse_step(void)
{
	double fine = nprof__cfg.snapshot_s > 0 ? nprof__cfg.snapshot_s : 1.0;
	return fine > COARSE_STEP_S ? fine : COARSE_STEP_S;
}

/*
 * Keeps the fine cadence for the last RECENT_S seconds and one snapshot
 * per coarse step before that (greedy from the oldest: a snapshot older
 * than the recent minute is dropped when it is closer than the coarse step
 * to the last one kept), and nothing older than an hour. Stable: what was
 * kept once is kept again. ring_lock held.
 */
static void age_locked(int64_t now)
{
	int64_t hour = (int64_t)(WINDOW_S * 1e9), recent = (int64_t)(RECENT_S * 1e9);
	double fine = nprof__cfg.snapshot_s > 0 ? nprof__cfg.snapshot_s : 1.0;
	int64_t gap = (int64_t)((coarse_step() - fine / 2) * 1e9);
	size_t first = 0;
	while (ring_n - first > RING_MIN_KEEP && now - ring[first]->t_ns > hour) {
		ring_bytes -= snap_bytes(ring[first]);
		nprof__arena_free(ring[first]);
		first++;
	}
	if (ring_n - first == 0) {
		ring_n = 0;
		return;
	}
	size_t out = 0;
	int64_t kept = ring[first]->t_ns;
	ring[out++] = ring[first];
	for (size_t i = first + 1; i < ring_n; i++) {
		struct nprof_snap *x = ring[i];
		if (now - x->t_ns > recent && x->t_ns - kept < gap && i + 1 < ring_n) {
			ring_bytes -= snap_bytes(x);
			nprof__arena_free(x);
			continue;
		}
		kept = x->t_ns;
		ring[out++] = x;
	}
	ring_n = out;
}

static void push(struct nprof_snap *s)
{
	pthread_mutex_lock(&ring_lock);
	if (ring == NULL || ring_cap == 0) {
		nprof__arena_free(s);
		pthread_mutex_unlock(&ring_lock);
		return;
	}
	age_locked(s->t_ns);
	if (ring_n == ring_cap) {
		/* Cannot happen with the sizes above; the oldest falls out. */
		ring_bytes -= snap_bytes(ring[0]);
		nprof__arena_free(ring[0]);
		memmove(ring, ring + 1, sizeof *ring * (ring_n - 1));
		ring_n--;
	}
	ring[ring_n++] = s;
	ring_bytes += snap_bytes(s);
	while (ring_bytes > RING_BUDGET && ring_n > RING_MIN_KEEP)
		thin_locked();
	pthread_mutex_unlock(&ring_lock);
}

void nprof__ring_lock(struct nprof_ring_view *v)
{
	pthread_mutex_lock(&ring_lock);
	v->snaps = ring;
	v->n = ring_n;
	v->interval_s = nprof__cfg.snapshot_s;
	v->bytes = ring_bytes;
	v->thinned = ring_thinned;
	v->truncated = ring_truncated;
	v->failed = ring_failed;
}

void nprof__ring_unlock(void)
{
	pthread_mutex_unlock(&ring_lock);
}

/* Empties the ring and sizes it for an hour of snapshots. */
static void ring_reset(void)
{
	pthread_mutex_lock(&ring_lock);
	for (size_t i = 0; i < ring_n; i++)
		nprof__arena_free(ring[i]);
	nprof__arena_free(ring);
	ring_n = ring_bytes = 0;
	ring_thinned = ring_truncated = ring_failed = 0;
	double iv = nprof__cfg.snapshot_s > 0 ? nprof__cfg.snapshot_s : 1.0;
	/* The recent minute at the fine step, the rest of the hour at the
	 * coarse one, and a little slack for timer jitter. */
	ring_cap = (size_t)(RECENT_S / iv + WINDOW_S / coarse_step()) + 8;
	if (ring_cap < RING_MIN_KEEP)
		ring_cap = RING_MIN_KEEP;
	ring = nprof__arena_alloc(sizeof *ring * ring_cap);
	if (ring == NULL)
		ring_cap = 0;
	pthread_mutex_unlock(&ring_lock);
}

/* ------------------------------------------------------------------ */
/* The snapshot thread                                                 */
/* ------------------------------------------------------------------ */

static void *snapshot_main(void *unused)
{
	(void)unused;
	/* Created with the guard up, the pthread_create wrapper has already
	 * made this thread one of nprof's own; say it again for a program
	 * linked without the wrapper in front. */
	nprof__guard = 1;
	nprof__block_signals(NULL);
	int64_t step = (int64_t)(nprof__cfg.snapshot_s * 1e9);
	int64_t next = nprof__mono_ns();
	pthread_mutex_lock(&ctl_lock);
	while (!stop_requested) {
		pthread_mutex_unlock(&ctl_lock);
		nprof__follow_sweep(0);
		/* Symbols unused for minutes: release libdw and its files. */
		nprof__sym_release_idle(NPROF_SYM_IDLE_NS);
		/* Big blocks kept for the next request: back to the system
		 * after a few seconds without one. */
		nprof__arena_trim(5LL * 1000000000LL);
		struct nprof_snap *s = nprof__snap_take();
		if (s != NULL) {
			push(s);
		} else {
			pthread_mutex_lock(&ring_lock);
			ring_failed++;
			pthread_mutex_unlock(&ring_lock);
		}
		/* On a fixed grid, so the slope's time axis stays regular; a
		 * snapshot that overran skips the missed ticks. */
		int64_t now = nprof__mono_ns();
		next += step;
		if (next <= now)
			next = now + step;
		struct timespec until = {(time_t)(next / 1000000000LL), (long)(next % 1000000000LL)};
		pthread_mutex_lock(&ctl_lock);
		while (!stop_requested &&
		       pthread_cond_timedwait(&ctl_cond, &ctl_lock, &until) != ETIMEDOUT)
			;
	}
	pthread_mutex_unlock(&ctl_lock);
	return NULL;
}

void nprof__leaks_start(void)
{
	int guard = nprof__guard;
	nprof__guard = 1;
	pthread_mutex_lock(&ctl_lock);
	if (thread_running)
		goto out;
	if (!ctl_cond_ready) {
		pthread_condattr_t ca;
		pthread_condattr_init(&ca);
		pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
		pthread_cond_init(&ctl_cond, &ca);
		pthread_condattr_destroy(&ca);
		ctl_cond_ready = 1;
	}
	ring_reset();
	stop_requested = 0;
	/* Signals blocked around the creation so that the thread starts
	 * with them blocked even before it blocks them itself. */
	sigset_t old;
	nprof__block_signals(&old);
	int rc = pthread_create(&snap_thread, NULL, snapshot_main, NULL);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (rc != 0)
		nprof__log("cannot start the snapshot thread: %s; /debug/pprof/leaks stays empty",
			   strerror(rc));
	else
		thread_running = 1;
out:
	pthread_mutex_unlock(&ctl_lock);
	nprof__guard = guard;
}

void nprof__leaks_stop(void)
{
	int guard = nprof__guard;
	nprof__guard = 1;
	pthread_mutex_lock(&ctl_lock);
	if (!thread_running) {
		pthread_mutex_unlock(&ctl_lock);
		nprof__guard = guard;
		return;
	}
	stop_requested = 1;
	pthread_cond_signal(&ctl_cond);
	pthread_mutex_unlock(&ctl_lock);
	/* At most one snapshot in progress to wait for. The ring is kept:
	 * a handler still running may read it. */
	pthread_join(snap_thread, NULL);
	pthread_mutex_lock(&ctl_lock);
	thread_running = 0;
	pthread_mutex_unlock(&ctl_lock);
	nprof__guard = guard;
}

void nprof__leaks_postfork_child(void)
{
	/* The thread does not exist here and any lock may have been held by
	 * a thread that did not survive the fork: start from nothing. The
	 * arena memory of the parent's ring is abandoned, not freed (its
	 * structures may be half-updated). */
	pthread_mutex_t fresh = PTHREAD_MUTEX_INITIALIZER;
	tab_lock = fresh;
	ring_lock = fresh;
	ctl_lock = fresh;
	ctl_cond_ready = 0;
	thread_running = 0;
	stop_requested = 0;
	ring = NULL;
	ring_cap = ring_n = ring_bytes = 0;
	ser_hash = NULL;
	ser_hash_cap = 0;
	ser_n = 0;
	for (int i = 0; i < SER_DIR; i++)
		atomic_store_explicit(&ser_dir[i], NULL, memory_order_relaxed);
	nlabels = 1;
}
