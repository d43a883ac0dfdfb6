/*
 * leaks_rank.c - which series of the snapshot ring (snapshot.c) grow
 * steadily: the least-squares slope over the whole ring and over recent
 * windows, a confidence that says how steadily each grows (r2,
 * monotonicity, spread, persistence; for the heap, how many of the
 * sampled blocks born in the window survive), and the order of the
 * suspects. leaks.c groups, symbolizes and prints them. The maths and the
 * reasons for each threshold are in docs/internals/leaks.md.
 *
 * Data: nothing persistent; each call ranks into an arena array. Reads
 * the ring under its lock (nprof__leaks_rank_ring), computation only.
 * Not for signal handlers.
 */
#include "arena.h"
#include "base.h"
#include "leaks_int.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* The recent windows judged besides the whole ring (seconds, longest
 * first); a series is judged over the one where it grows most steadily. */
static const double windows_s[] = {900, 300, 60, 20};
/* Suspects at or above this confidence are "high": among them, kinds are
 * ordered threads, descriptors, heap (see nprof__leaks_rank_cmp). */
#define HIGH_CONFIDENCE 0.8


/* The smallest growth over the window that can be a leak. Heap values are
 * estimates in steps of about one sampling period, so growth must span a
 * few samples; a count of threads or descriptors must rise by a few. */
static int64_t min_growth(int kind)
{
	if (kind != NPROF_SERIES_HEAP)
		return 3;
	int64_t two_samples = 2 * (int64_t)nprof__cfg.heap_rate;
	return two_samples > 65536 ? two_samples : 65536;
}

/*
 * Whether the growth goes on now: the rise over the last steps (enough of
 * them to expect 3 units of rise at the window's average pace, at least
 * 2, at most half the window) against that expectation. A pool that
 * filled up and stopped a few seconds ago has a flat tail; a leak keeps
 * its pace. Soft, because a slow leak's units come at random moments
 * (a heap leak's sampled blocks): no rise in the tail halves the
 * confidence, a rise at the expected pace keeps it.
 */
static double tail_factor(const double *v, size_t m)
{
	size_t steps = m - 1;
	double rise = v[m - 1] - v[0];
	if (steps < 4 || rise <= 0)
		return 1;
	size_t tail = (size_t)ceil(3.0 * (double)steps / rise);
	tail = tail < 2 ? 2 : tail > steps / 2 ? steps / 2 : tail;
	double expect = rise * (double)tail / (double)steps;
	double got = v[m - 1] - v[m - 1 - tail];
	double f = 0.5 + 0.5 * got / expect;
	return f < 0.5 ? 0.5 : f > 1 ? 1 : f;
}

/*
 * Judges one series given its values v[0..m) at times t[0..m) (seconds
 * from the first). Fills slope and confidence; the three factors:
 *   r2      R squared of the least-squares line: growth that follows a
 *           line, not a burst or a saw-tooth;
 *   mono    the fraction of steps that do not go down: a leak does not
 *           give back what it took, per-request scratch does;
 *   spread  how evenly the rise is spread over the steps: 1 - (largest
 *           single rise / total rise), normalised so that equal rises at
 *           every step give 1. A table built once rises in one step and
 *           gets 0.
 *   persist whether the rises go on to the end: the steps from the first
 *           rise to the last, over the steps from the first rise to the
 *           end of the window. A leak that began mid-window keeps 1; a
 *           one-time step that straddled two snapshots (a pool of threads
 *           started while a snapshot was taken) stops rising and gets
 *           about 2 / (steps left), which spread alone would not catch.
 */
static void judge(const double *t, const double *v, size_t m, struct nprof_suspect *s)
{
	double st = 0, sv = 0;
	for (size_t i = 0; i < m; i++)
		st += t[i], sv += v[i];
	double mt = st / (double)m, mv = sv / (double)m;
	double stt = 0, svv = 0, stv = 0;
	for (size_t i = 0; i < m; i++) {
		stt += (t[i] - mt) * (t[i] - mt);
		svv += (v[i] - mv) * (v[i] - mv);
		stv += (t[i] - mt) * (v[i] - mv);
	}
	s->slope = stt > 0 ? stv / stt : 0;
	double r2 = stt > 0 && svv > 0 ? (stv * stv) / (stt * svv) : 0;
	size_t steps = m - 1, up_or_flat = 0, first_rise = m, last_rise = 0;
	double rise = 0, max_rise = 0;
	for (size_t i = 0; i + 1 < m; i++) {
		double d = v[i + 1] - v[i];
		if (d >= 0)
			up_or_flat++;
		if (d > 0) {
			rise += d;
			if (d > max_rise)
				max_rise = d;
			if (first_rise == m)
				first_rise = i;
			last_rise = i;
		}
	}
	double persist = first_rise < steps ?
		(double)(last_rise - first_rise + 1) / (double)(steps - first_rise) : 0;
	double mono = steps > 0 ? (double)up_or_flat / (double)steps : 0;
	double spread = 0;
	if (steps > 1 && rise > 0) {
		spread = (1 - max_rise / rise) / (1 - 1.0 / (double)steps);
		spread = spread < 0 ? 0 : spread > 1 ? 1 : spread;
	}
	/* Threads are counted only once stuck (snapshot.c leaves out those
	 * woken within the last second), so a plateau of threads is threads
	 * that never returned - a capped leak - not a pool that filled up
	 * while serving: no tail factor for them. */
	double tail = s->kind == NPROF_SERIES_THREADS ? 1 : tail_factor(v, m);
	s->confidence = s->slope > 0 ? r2 * mono * spread * persist * tail : 0;
}

/* Sampled blocks born between point i0 and the last point; births wrap
 * at 2^32 (unsigned differences are exact), and a point where the series
 * was absent (no block alive) says 0: the count is then taken from the
 * first point that has one. */
static double born_since(const double *b, size_t i0, size_t m)
{
	size_t i = i0;
	while (i < m - 1 && b[i] == 0)
		i++;
	return (double)(uint32_t)((uint32_t)b[m - 1] - (uint32_t)b[i]);
}

/*
 * Judges a heap series: v[] in-use bytes (for the slope shown), c[] the
 * sampled blocks alive at each point - each one an observation of its
 * own, so the evidence is counted in samples, not read off the shape of
 * an estimate that moves in steps of a sampling period:
 *   k        sampled blocks gained over the window (end - start);
 *   survive  k / (sampled blocks allocated over the window, the births the
 *            heap profiler counted): a leak keeps every block it
 *            allocates, a bounded cache or a pool gives one back for each
 *            it takes, scratch buffers give everything back;
 *   evidence 1 - exp(-k/3): 0.63 at 3 blocks, 0.93 at 8, so that a leak
 *            is named within a few sample periods of growth, while one or
 *            two blocks are never enough;
 *   spread   the rise is not one step: 1 - (largest single rise / all
 *            rises), doubled and clamped to 1, so two equal steps or more
 *            pass, a table built at once (all of its blocks in one step)
 *            gets 0;
 *   persist  as for counts: the rises go on to the end.
 * confidence = survive * evidence * spread * persist.
 */
static void judge_heap(const double *t, const double *v, const double *c, double born,
		       size_t m, struct nprof_suspect *s)
{
	judge(t, v, m, s); /* the slope in bytes per second */
	size_t steps = m - 1, first_rise = m, last_rise = 0;
	double rises = 0, max_rise = 0;
	for (size_t i = 0; i + 1 < m; i++) {
		double d = c[i + 1] - c[i];
		if (d > 0) {
			rises += d;
			if (d > max_rise)
				max_rise = d;
			if (first_rise == m)
				first_rise = i;
			last_rise = i;
		}
	}
	double k = c[m - 1] - c[0];
	if (k < 2 || rises <= 0 || steps < 2) {
		s->confidence = 0;
		return;
	}
	/* Births counted by the heap profiler: churn between two snapshots
	 * (a cache evicting one block for each it adds) nets to nothing in
	 * c[] but not here. */
	double survive = k / (born > rises ? born : rises);
	double evidence = 1 - exp(-k / 3);
	double spread = 2 * (1 - max_rise / rises);
	spread = spread < 0 ? 0 : spread > 1 ? 1 : spread;
	double persist = first_rise < steps ?
		(double)(last_rise - first_rise + 1) / (double)(steps - first_rise) : 0;
	s->confidence = s->slope > 0 ? survive * evidence * spread * persist * tail_factor(c, m) : 0;
}

static int kind_order(int kind)
{
	/* A thread that never returns holds its sockets and its memory: the
	 * cause before its consequences. */
	return kind == NPROF_SERIES_THREADS ? 0 : kind == NPROF_SERIES_FDS ? 1 : 2;
}

int nprof__leaks_rank_cmp(const void *a, const void *b)
{
	const struct nprof_suspect *x = a, *y = b;
	int hx = x->confidence >= HIGH_CONFIDENCE, hy = y->confidence >= HIGH_CONFIDENCE;
	if (hx != hy)
		return hy - hx;
	if (hx && kind_order(x->kind) != kind_order(y->kind))
		return kind_order(x->kind) - kind_order(y->kind);
	if (x->confidence != y->confidence)
		return x->confidence < y->confidence ? 1 : -1;
	double gx = (double)(x->end - x->start) / (double)(x->start + 1);
	double gy = (double)(y->end - y->start) / (double)(y->start + 1);
	if (gx != gy)
		return gx < gy ? 1 : -1;
	return (x->series > y->series) - (x->series < y->series);
}

/*
 * Ranks the series of snaps[0..m) (oldest first). Candidates are the
 * series of the newest snapshot (a leak holds something now) that grew by
 * at least min_growth() since the oldest. Returns an arena array of the
 * suspects, best first, with *n set; NULL with *n = 0 when there are none,
 * too few points, or no memory.
 */
struct nprof_suspect *nprof__leaks_rank_snaps(struct nprof_snap *const *snaps, size_t m, size_t *n)
{
	*n = 0;
	if (m < NPROF_LEAKS_MIN_POINTS)
		return NULL;
	const struct nprof_snap *last = snaps[m - 1];
	double *t = nprof__arena_alloc(sizeof *t * m * 4);
	struct nprof_suspect *out = NULL;
	size_t cap = 0;
	if (t == NULL)
		return NULL;
	double *v = t + m, *c = t + 2 * m, *b = t + 3 * m;
	for (size_t i = 0; i < m; i++)
		t[i] = (double)(snaps[i]->t_ns - snaps[0]->t_ns) / 1e9;
	/* The windows judged: the whole ring, then the recent parts, so that
	 * a leak that began an hour into a quiet program is judged over its
	 * own minutes rather than drowned in the flat hour before it. Each
	 * window starts at the first snapshot inside it. */
	size_t from[sizeof windows_s / sizeof windows_s[0] + 1], nw = 0;
	from[nw++] = 0;
	for (size_t w = 0; w < sizeof windows_s / sizeof windows_s[0]; w++) {
		size_t i0 = 0;
		while (i0 < m && t[m - 1] - t[i0] > windows_s[w])
			i0++;
		if (m - i0 >= NPROF_LEAKS_MIN_POINTS && i0 != from[nw - 1])
			from[nw++] = i0;
	}
	for (size_t k = 0; k < last->n; k++) {
		uint32_t id = last->e[k].series;
		const struct nprof_series *ser = nprof__series_at(id);
		if (ser == NULL)
			continue;
		int64_t end = last->e[k].value;
		if (end - nprof__snap_value(snaps[from[nw - 1]], id) < min_growth(ser->kind) &&
		    end - nprof__snap_value(snaps[0], id) < min_growth(ser->kind))
			continue;
		for (size_t i = 0; i < m; i++) {
			uint32_t aux, births;
			v[i] = (double)nprof__snap_value_aux(snaps[i], id, &aux, &births);
			c[i] = (double)aux;
			/* Births wrap at 2^32: differences from the last are exact. */
			b[i] = (double)births;
		}
		struct nprof_suspect best = {.confidence = -1};
		for (size_t w = 0; w < nw; w++) {
			size_t i0 = from[w];
			int64_t start = (int64_t)v[i0];
			if (end - start < min_growth(ser->kind))
				continue;
			struct nprof_suspect s = {.series = id, .kind = ser->kind, .start = start,
					    .end = end, .window = t[m - 1] - t[i0]};
			if (ser->kind == NPROF_SERIES_HEAP)
				judge_heap(t + i0, v + i0, c + i0, born_since(b, i0, m), m - i0, &s);
			else
				judge(t + i0, v + i0, m - i0, &s);
			if (s.confidence > best.confidence + 0.02)
				best = s;
		}
		/* Half the threshold: not a suspect, but it may join a group
		 * (the sockets of a leak that hit its cap, which stopped
		 * growing with the threads that hold them). */
		if (best.confidence < NPROF_LEAKS_MIN_CONFIDENCE / 2)
			continue;
		best.weak = best.confidence < NPROF_LEAKS_MIN_CONFIDENCE;
		if (*n == cap) {
			size_t ncap = cap ? cap * 2 : 16;
			void *p = nprof__arena_realloc(out, sizeof *out * ncap);
			if (p == NULL)
				break;
			out = p;
			cap = ncap;
		}
		out[(*n)++] = best;
	}
	nprof__arena_free(t);
	if (*n > 1)
		qsort(out, *n, sizeof *out, nprof__leaks_rank_cmp);
	return out;
}

/* Ranks the ring; *window = its span in seconds, *points its length. */
struct nprof_suspect *nprof__leaks_rank_ring(size_t *n, double *window, size_t *points,
				 struct nprof_ring_view *info)
{
	struct nprof_ring_view v;
	nprof__ring_lock(&v);
	struct nprof_suspect *s = nprof__leaks_rank_snaps(v.snaps, v.n, n);
	*window = v.n > 1 ? (double)(v.snaps[v.n - 1]->t_ns - v.snaps[0]->t_ns) / 1e9 : 0;
	*points = v.n;
	if (info != NULL)
		*info = v;
	nprof__ring_unlock();
	return s;
}
