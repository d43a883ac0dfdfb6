/*
 * leaks.c - /debug/pprof/leaks: the series of the snapshot ring
 * (snapshot.c) that grow steadily, ranked, with the line of the program
 * that each one names.
 *
 * Owns the ranking (least-squares slope and a confidence that says how
 * steadily a series grows), the choice of `site` (the first frame of the
 * program's own code) and of the frames shown, the text table and the
 * JSON of docs/reference.md §4, and the counts /metrics and the index show. The maths and
 * the reasons for each threshold are in docs/internals/leaks.md.
 *
 * Data: nothing persistent. A request ranks either the ring (under its
 * lock, computation only) or snapshots it takes itself over ?seconds=N,
 * into an arena array of struct suspect; it then symbolizes the few
 * suspects it prints in one symbolizer session, after the ring lock is
 * released (never both at once, and never a nested symbolizer session).
 *
 * Threads and locking: handlers run on nprof's HTTP threads (hook guard
 * raised, signals blocked), several at once; they share nothing but the
 * ring, read under its lock. Nothing here may run in a signal handler.
 */
#include "arena.h"
#include "base.h"
#include "buf.h"
#include "leaks.h"
#include "leaks_int.h"
#include "procmaps.h"
#include "profile.h"
#include "stacks.h"
#include "symbolize.h"

#include <dlfcn.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* A series needs this many points before it can be judged: with fewer,
 * three rising steps in a row happen by chance. */
#define MIN_POINTS 5
/* Below this confidence a series is not a suspect. */
#define MIN_CONFIDENCE 0.5
/* Suspects at or above this confidence are "high": among them, kinds are
 * ordered threads, descriptors, heap (see by_rank). */
#define HIGH_CONFIDENCE 0.8
/* Suspects printed; the rest are counted in the text's header. */
#define MAX_SHOWN 20
/* Frames shown per stack (program frames only). */
#define MAX_OUT_FRAMES 32
/* The recent windows judged besides the whole ring (seconds, longest
 * first); a series is judged over the one where it grows most steadily. */
static const double windows_s[] = {900, 300, 60, 20};
/* Points a seconds=N request takes at most (one per second up to that). */
#define MAX_FRESH_POINTS 61

static const char *const kind_names[NPROF_SERIES_KINDS] = {"heap", "threads", "fds"};
static const char *const unit_names[NPROF_SERIES_KINDS] = {"bytes", "threads", "fds"};

/* A suspect folded into a group: what its row would have said. */
struct related {
	uint32_t series;
	int kind;
	int64_t start, end;
	double slope, confidence, window;
};

struct suspect {
	uint32_t series;
	int kind;
	int64_t start, end;
	double slope;               /* least squares, per second */
	double confidence;          /* r2 * mono * spread * persist, in [0, 1] */
	double window;              /* seconds of the window judged */
	int grouped;                /* folded into another suspect (see group()) */
	int weak;                   /* below MIN_CONFIDENCE: may only join a group */
	int nrel;                   /* related suspects folded into this one */
	struct related rel[4];
	uintptr_t site_pc;          /* a group's site: the frame creating them all */
	int site_depth;             /* its index in the creating stack */
};

/* ------------------------------------------------------------------ */
/* Ranking                                                             */
/* ------------------------------------------------------------------ */

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
static void judge(const double *t, const double *v, size_t m, struct suspect *s)
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
		       size_t m, struct suspect *s)
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

static int by_rank(const void *a, const void *b)
{
	const struct suspect *x = a, *y = b;
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
static struct suspect *rank(struct nprof_snap *const *snaps, size_t m, size_t *n)
{
	*n = 0;
	if (m < MIN_POINTS)
		return NULL;
	const struct nprof_snap *last = snaps[m - 1];
	double *t = nprof__arena_alloc(sizeof *t * m * 4);
	struct suspect *out = NULL;
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
		if (m - i0 >= MIN_POINTS && i0 != from[nw - 1])
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
		struct suspect best = {.confidence = -1};
		for (size_t w = 0; w < nw; w++) {
			size_t i0 = from[w];
			int64_t start = (int64_t)v[i0];
			if (end - start < min_growth(ser->kind))
				continue;
			struct suspect s = {.series = id, .kind = ser->kind, .start = start,
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
		if (best.confidence < MIN_CONFIDENCE / 2)
			continue;
		best.weak = best.confidence < MIN_CONFIDENCE;
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
		qsort(out, *n, sizeof *out, by_rank);
	return out;
}

/* Ranks the ring; *window = its span in seconds, *points its length. */
static struct suspect *rank_ring(size_t *n, double *window, size_t *points,
				 struct nprof_ring_view *info)
{
	struct nprof_ring_view v;
	nprof__ring_lock(&v);
	struct suspect *s = rank(v.snaps, v.n, n);
	*window = v.n > 1 ? (double)(v.snaps[v.n - 1]->t_ns - v.snaps[0]->t_ns) / 1e9 : 0;
	*points = v.n;
	if (info != NULL)
		*info = v;
	nprof__ring_unlock();
	return s;
}

long nprof__leaks_suspects(const char *kind)
{
	size_t n, points;
	double window;
	struct suspect *s = rank_ring(&n, &window, &points, NULL);
	long c = 0;
	for (size_t i = 0; i < n; i++)
		if (!s[i].weak && (kind == NULL || strcmp(kind, kind_names[s[i].kind]) == 0))
			c++;
	nprof__arena_free(s);
	return c;
}

long nprof__leaks_count(void)
{
	return nprof__leaks_suspects(NULL);
}

/* ------------------------------------------------------------------ */
/* Frames: which belong to the program                                 */
/* ------------------------------------------------------------------ */

struct oframe {
	const char *function;       /* symbolizer strings: valid until sym_close */
	const char *file;
	int line;
	char addr[24];              /* "0x..." when the function is unknown */
};

/* One symbolizer session and what tells nprof's frames apart. */
struct symctx {
	struct nprof_symtab *st;
	char self_so[512];          /* libnprof.so's path when loaded as one */
	char self_dir[512];         /* directory of nprof's sources (static link) */
};

static const char *base_name(const char *p)
{
	const char *s = strrchr(p, '/');
	return s != NULL ? s + 1 : p;
}

/*
 * True for a mapping that is not the program's own code: the C and C++
 * runtimes, the dynamic loader, the vdso, libraries nprof brings in, and
 * nprof itself. Decided by the mapped file, as pprof's own "runtime"
 * trimming is decided by package: a library in the program's own tree
 * counts as the program's.
 */
static int foreign_mapping(const struct symctx *c, const struct nprof_mapping *m)
{
	static const char *const sys[] = {
		"libc.so", "libc-", "libstdc++", "libgcc_s", "ld-linux", "ld-", "ld.so",
		"libpthread", "libm.so", "libm-", "libdl", "librt", "libresolv", "libc++",
		"libc++abi", "libunwind", "libdw", "libelf", "libmicrohttpd", "libz.so",
		"libnprof",
	};
	if (m == NULL || m->file == NULL || m->file[0] == '\0' || m->file[0] == '[')
		return 1;
	if (c->self_so[0] != '\0' && strcmp(m->file, c->self_so) == 0)
		return 1;
	const char *b = base_name(m->file);
	for (size_t i = 0; i < sizeof sys / sizeof sys[0]; i++)
		if (strncmp(b, sys[i], strlen(sys[i])) == 0)
			return 1;
	return 0;
}

/* nprof's own frame inside the program (libnprof.a linked statically). */
static int nprof_frame(const struct symctx *c, const struct nprof_frame *f)
{
	if (strncmp(f->function, "nprof_", 6) == 0)
		return 1;
	size_t dl = strlen(c->self_dir);
	return dl > 0 && strncmp(f->file, c->self_dir, dl) == 0 && strchr(f->file + dl, '/') == NULL;
}

static void symctx_open(struct symctx *c)
{
	memset(c, 0, sizeof *c);
	Dl_info info;
	if (dladdr((void *)nprof__leaks_handle, &info) != 0 && info.dli_fname != NULL &&
	    strncmp(base_name(info.dli_fname), "libnprof", 8) == 0)
		snprintf(c->self_so, sizeof c->self_so, "%s", info.dli_fname);
	c->st = nprof__sym_open();
	if (c->st == NULL)
		return;
	struct nprof_frame fr[8];
	int nf = nprof__sym_lookup(c->st, (uintptr_t)nprof__leaks_handle, fr, 8);
	if (nf > 0 && fr[nf - 1].file[0] != '\0') {
		const char *f = fr[nf - 1].file;
		size_t dl = (size_t)(base_name(f) - f);
		if (dl > 0 && dl < sizeof c->self_dir) {
			memcpy(c->self_dir, f, dl);
			c->self_dir[dl] = '\0';
		}
	}
}

static void symctx_close(struct symctx *c)
{
	if (c->st != NULL)
		nprof__sym_close(c->st);
	c->st = NULL;
}

/*
 * The frames of stack `id` that belong to the program, innermost first,
 * inlined calls expanded (each as its own frame, as pprof shows them).
 */
static int program_pcs(struct symctx *c, const uintptr_t *pcs, int npcs, struct oframe *out,
		       int max)
{
	int n = 0;
	for (int k = 0; k < npcs && n < max; k++) {
		uintptr_t addr = pcs[k] - 1;
		const struct nprof_mapping *m = c->st ? nprof__sym_mapping(c->st, addr) : NULL;
		if (c->st != NULL && foreign_mapping(c, m))
			continue;
		struct nprof_frame fr[16];
		int nf = c->st ? nprof__sym_lookup(c->st, addr, fr, 16) : 0;
		if (nf <= 0) {
			struct oframe *o = &out[n++];
			snprintf(o->addr, sizeof o->addr, "%#" PRIxPTR, addr);
			o->function = o->addr;
			o->file = "";
			o->line = 0;
			continue;
		}
		for (int f = 0; f < nf && n < max; f++) {
			/* _start: the C runtime's entry, linked into the program. */
			if (nprof_frame(c, &fr[f]) || strcmp(fr[f].function, "_start") == 0)
				continue;
			struct oframe *o = &out[n++];
			o->function = fr[f].function[0] ? fr[f].function : "?";
			o->file = fr[f].file;
			o->line = fr[f].line;
			o->addr[0] = '\0';
		}
	}
	return n;
}

static int program_frames(struct symctx *c, uint32_t id, struct oframe *out, int max)
{
	int npcs;
	const uintptr_t *pcs = nprof__stack_get(id, &npcs);
	return program_pcs(c, pcs, npcs, out, max);
}

/* ------------------------------------------------------------------ */
/* Grouping: threads, their descriptors and their heap, one suspect     */
/* ------------------------------------------------------------------ */

/* A thread parked in I/O: a per-object service thread (a keepalive, a
 * reader) rather than one stuck in the program's own logic (a channel, a
 * lock), whose blocking line is the answer. */
static int io_wait(const char *w)
{
	static const char *const io[] = {
		"poll", "ppoll", "select", "pselect", "epoll_wait", "read", "readv", "recv",
		"recvmsg", "recvmmsg", "accept", "connect",
	};
	for (size_t i = 0; i < sizeof io / sizeof io[0]; i++)
		if (strcmp(w, io[i]) == 0)
			return 1;
	return 0;
}

/* Frames two stacks share at their outer end. */
static int common_outer(const uintptr_t *a, int na, const uintptr_t *b, int nb)
{
	int k = 0;
	while (k < na && k < nb && a[na - 1 - k] == b[nb - 1 - k])
		k++;
	return k;
}

static int program_pc(struct symctx *c, uintptr_t pc)
{
	return c->st == NULL || !foreign_mapping(c, nprof__sym_mapping(c->st, pc - 1));
}

/*
 * Folds related growth into one suspect: a thread suspect parked in I/O
 * and a descriptor suspect growing at about the same rate (within a factor
 * of two), created from one frame of the program - the innermost frame
 * their creating stacks share - become one suspect whose site is that
 * frame; heap suspects allocated below the same frame join it. The shared
 * frame must not be the outermost frame of the program on that stack
 * (main, a thread's start routine): everything shares that one, so sharing
 * it says nothing. Incident 3: the keepalive threads (created in
 * client_new) and the sockets (opened in client_new) share the handler's
 * call of client_new: that line is the answer. Grouped suspects are marked
 * and left out of the list (n is updated), as are the weak candidates
 * that joined no group; the group carries them in
 * rel[], takes the highest confidence of its members (the kinds together
 * are more evidence, not less), and the list is ranked again.
 */
static void group(struct symctx *c, struct suspect *s, size_t *np)
{
	size_t n = *np;
	for (size_t i = 0; i < n; i++) {
		struct suspect *t = &s[i];
		const struct nprof_series *ts = nprof__series_at(t->series);
		if (t->grouped || t->weak || t->kind != NPROF_SERIES_THREADS || ts->creator == 0 ||
		    !io_wait(nprof__snap_label(ts->label)))
			continue;
		int nc;
		const uintptr_t *cp = nprof__stack_get(ts->creator, &nc);
		/* Pass 0 finds the descriptors and the site; pass 1 adds what
		 * else was created below that site. */
		for (int pass = 0; pass < 2; pass++) {
			for (size_t j = 0; j < n && t->nrel < 4; j++) {
				struct suspect *f = &s[j];
				if (j == i || f->grouped || f->nrel > 0 ||
				    f->kind == NPROF_SERIES_THREADS || (pass == 0) != (t->nrel == 0))
					continue;
				int nf;
				const uintptr_t *fp =
					nprof__stack_get(nprof__series_at(f->series)->stack, &nf);
				int k = common_outer(cp, nc, fp, nf);
				if (k == 0 || k >= nc || k >= nf)
					continue;
				if (pass == 0) {
					if (f->kind != NPROF_SERIES_FDS || f->slope < t->slope / 2 ||
					    f->slope > t->slope * 2)
						continue;
					/* The innermost shared frame of the program, and
					 * one of the program's further out. */
					int depth = nc - k, outer = 0;
					while (depth < nc && !program_pc(c, cp[depth]))
						depth++;
					for (int d = depth + 1; d < nc; d++)
						outer |= program_pc(c, cp[d]);
					if (depth >= nc || !outer)
						continue;
					t->site_pc = cp[depth];
					t->site_depth = depth;
				} else if (nc - k > t->site_depth) {
					continue; /* not created below the group's site */
				}
				f->grouped = 1;
				t->rel[t->nrel++] = (struct related){f->series, f->kind, f->start,
								     f->end, f->slope,
								     f->confidence, f->window};
				if (f->confidence > t->confidence)
					t->confidence = f->confidence;
			}
			if (t->nrel == 0)
				break;
		}
	}
	size_t out = 0;
	for (size_t i = 0; i < n; i++)
		if (!s[i].grouped && !s[i].weak)
			s[out++] = s[i];
	*np = out;
	if (out > 1)
		qsort(s, out, sizeof *s, by_rank);
}

/* A header or a system include: helpers such as an inlined channel send
 * live there; the site is the line of the program that called them. */
static int header_file(const char *f)
{
	const char *dot = strrchr(base_name(f), '.');
	if (strncmp(f, "/usr/include/", 13) == 0 || strncmp(f, "/usr/lib/", 9) == 0)
		return 1;
	return dot != NULL && (strcmp(dot, ".h") == 0 || strcmp(dot, ".hh") == 0 ||
			       strcmp(dot, ".hpp") == 0 || strcmp(dot, ".hxx") == 0 ||
			       strcmp(dot, ".inl") == 0 || strcmp(dot, ".tcc") == 0);
}

/* The site: the first frame of a source file (not a header) of the
 * program; else the first frame; NULL when there is none. */
static const struct oframe *site_of(const struct oframe *f, int n)
{
	for (int i = 0; i < n; i++)
		if (f[i].file[0] != '\0' && !header_file(f[i].file))
			return &f[i];
	return n > 0 ? &f[0] : NULL;
}

/* ------------------------------------------------------------------ */
/* Output                                                              */
/* ------------------------------------------------------------------ */

static void json_frame(struct nprof_buf *b, const struct oframe *f)
{
	nprof__buf_printf(b, "{\"function\": ");
	nprof__buf_json_str(b, f->function);
	nprof__buf_printf(b, ", \"file\": ");
	nprof__buf_json_str(b, f->file);
	nprof__buf_printf(b, ", \"line\": %d}", f->line);
}

static void json_frames(struct nprof_buf *b, const struct oframe *f, int n)
{
	nprof__buf_putc(b, '[');
	for (int i = 0; i < n; i++) {
		if (i > 0)
			nprof__buf_printf(b, ",\n              ");
		json_frame(b, &f[i]);
	}
	nprof__buf_putc(b, ']');
}

/* A finite number for JSON (NaN and infinities are not JSON). */
static double json_num(double x)
{
	return isfinite(x) ? x : 0;
}

/* The frames a suspect names: a group's from its site outward (the
 * creating stack), any other's its series' stack. */
static int suspect_frames(struct symctx *c, const struct suspect *s, struct oframe *out)
{
	const struct nprof_series *ser = nprof__series_at(s->series);
	if (s->nrel > 0) {
		int nc;
		const uintptr_t *cp = nprof__stack_get(ser->creator, &nc);
		return program_pcs(c, cp + s->site_depth, nc - s->site_depth, out, MAX_OUT_FRAMES);
	}
	return program_frames(c, ser->stack, out, MAX_OUT_FRAMES);
}

static void json_head(struct nprof_buf *b, const struct suspect *s)
{
	nprof__buf_printf(b, "{\"kind\": \"%s\", \"unit\": \"%s\", \"start\": %" PRId64
			  ", \"end\": %" PRId64 ", \"growth_per_second\": %.1f,"
			  " \"confidence\": %.2f, \"window_seconds\": %.1f", kind_names[s->kind],
			  unit_names[s->kind], s->start, s->end, json_num(s->slope),
			  json_num(s->confidence), json_num(s->window));
	/* The series id, for the web UI's charts (ui/data/history?series=). */
	nprof__buf_printf(b, ", \"series\": %" PRIu32, s->series);
}

static void write_json(struct nprof_buf *b, struct symctx *c, const struct suspect *s,
		       size_t n, double window)
{
	struct oframe frames[MAX_OUT_FRAMES], creator[MAX_OUT_FRAMES];
	nprof__buf_printf(b, "{\"window_seconds\": %.1f,\n \"suspects\": [", json_num(window));
	for (size_t i = 0, shown = 0; i < n && shown < MAX_SHOWN; i++) {
		if (s[i].grouped)
			continue;
		const struct nprof_series *ser = nprof__series_at(s[i].series);
		int nf = suspect_frames(c, &s[i], frames);
		const struct oframe *site = site_of(frames, nf);
		nprof__buf_printf(b, "%s\n   ", shown++ ? "," : "");
		json_head(b, &s[i]);
		if (s[i].kind == NPROF_SERIES_THREADS) {
			const char *w = nprof__snap_label(ser->label);
			nprof__buf_printf(b, ", \"wait\": ");
			nprof__buf_json_str(b, w[0] ? w : "unknown");
		}
		nprof__buf_printf(b, ",\n    \"site\":  ");
		if (site != NULL)
			json_frame(b, site);
		else
			nprof__buf_printf(b, "null");
		nprof__buf_printf(b, ",\n    \"stack\": ");
		json_frames(b, frames, nf);
		if (s[i].kind == NPROF_SERIES_THREADS) {
			/* The creating stack shares the frame storage's lifetime
			 * (the session), not its array. */
			int nc = ser->creator ? program_frames(c, ser->creator, creator,
								MAX_OUT_FRAMES) : 0;
			nprof__buf_printf(b, ",\n    \"created_by\": ");
			json_frames(b, creator, nc);
		}
		if (s[i].nrel > 0) {
			/* A group: where its threads wait, and the growth of the
			 * other kinds created from the same line. */
			nf = program_frames(c, ser->stack, frames, MAX_OUT_FRAMES);
			nprof__buf_printf(b, ",\n    \"thread_stack\": ");
			json_frames(b, frames, nf);
			nprof__buf_printf(b, ",\n    \"related\": [");
			for (int r = 0; r < s[i].nrel; r++) {
				const struct related *x = &s[i].rel[r];
				nf = program_frames(c, nprof__series_at(x->series)->stack, frames,
						    MAX_OUT_FRAMES);
				const struct oframe *xs = site_of(frames, nf);
				nprof__buf_printf(b, "%s\n      ", r ? "," : "");
				struct suspect xr = {.kind = x->kind, .start = x->start, .end = x->end,
						     .slope = x->slope, .confidence = x->confidence,
						     .window = x->window};
				json_head(b, &xr);
				nprof__buf_printf(b, ", \"site\": ");
				if (xs != NULL)
					json_frame(b, xs);
				else
					nprof__buf_printf(b, "null");
				nprof__buf_printf(b, ", \"stack\": ");
				json_frames(b, frames, nf);
				nprof__buf_putc(b, '}');
			}
			nprof__buf_putc(b, ']');
		}
		nprof__buf_putc(b, '}');
	}
	nprof__buf_printf(b, "]}\n");
}

/* "12.3 MiB" style for bytes; plain for counts. */
static void fmt_amount(char *out, size_t cap, int kind, double v)
{
	static const char *const units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
	if (kind != NPROF_SERIES_HEAP) {
		snprintf(out, cap, "%.0f", v);
		return;
	}
	int u = 0;
	double a = fabs(v);
	while (a >= 1024 && u < 4)
		a /= 1024, v /= 1024, u++;
	snprintf(out, cap, u == 0 ? "%.0f %s" : "%.1f %s", v, units[u]);
}

/* "file.c:42 function" (base name), or the function alone, or "?". */
static void place(char *out, size_t cap, const struct oframe *f)
{
	if (f == NULL)
		snprintf(out, cap, "?");
	else if (f->file[0] != '\0')
		snprintf(out, cap, "%s:%d %s", base_name(f->file), f->line, f->function);
	else
		snprintf(out, cap, "%s", f->function);
}

/* "+12.3 KiB/s" */
static void fmt_rate(char *out, size_t cap, const struct suspect *s)
{
	char rate[32];
	fmt_amount(rate, sizeof rate, s->kind, s->slope);
	snprintf(out, cap, "+%s/s", rate);
}

static void write_text(struct nprof_buf *b, struct symctx *c, const struct suspect *s,
		       size_t n, double window, size_t points, const char *how)
{
	struct oframe frames[MAX_OUT_FRAMES];
	size_t shown_n = 0;
	for (size_t i = 0; i < n; i++)
		shown_n += !s[i].grouped;
	nprof__buf_printf(b, "# nprof leak suspects: %zu over %.1f s (%zu snapshots, %s)\n",
			  shown_n, window, points, how);
	if (points < MIN_POINTS) {
		nprof__buf_printf(b, "# not enough snapshots yet: %zu of %d; ask again later or use "
				  "?seconds=10\n", points, MIN_POINTS);
		return;
	}
	if (shown_n == 0) {
		nprof__buf_printf(b, "# nothing grew steadily over the window\n");
		return;
	}
	nprof__buf_printf(b, "%-8s %14s  %-25s %5s  %-20s %s\n", "KIND", "GROWTH", "START -> END",
			  "CONF", "WAIT", "SITE");
	for (size_t i = 0, shown = 0; i < n && shown < MAX_SHOWN; i++) {
		if (s[i].grouped)
			continue;
		shown++;
		const struct nprof_series *ser = nprof__series_at(s[i].series);
		int nf = suspect_frames(c, &s[i], frames);
		const struct oframe *site = site_of(frames, nf);
		char g[40], a[24], z[24], range[64], where[320];
		fmt_rate(g, sizeof g, &s[i]);
		fmt_amount(a, sizeof a, s[i].kind, (double)s[i].start);
		fmt_amount(z, sizeof z, s[i].kind, (double)s[i].end);
		snprintf(range, sizeof range, "%s -> %s", a, z);
		const char *w = s[i].kind == NPROF_SERIES_THREADS ? nprof__snap_label(ser->label) : "-";
		place(where, sizeof where, site);
		nprof__buf_printf(b, "%-8s %14s  %-25s %5.2f  %-20s %s", kind_names[s[i].kind],
				  g, range, s[i].confidence, w[0] ? w : "unknown", where);
		if (s[i].nrel > 0) {
			/* A group: the line creating them all, then what grows
			 * with the threads and where the threads wait. */
			nprof__buf_printf(b, "  with");
			for (int r = 0; r < s[i].nrel; r++) {
				struct suspect x = {.kind = s[i].rel[r].kind, .slope = s[i].rel[r].slope};
				fmt_rate(g, sizeof g, &x);
				nprof__buf_printf(b, "%s %s %s", r ? "," : "",
						  kind_names[s[i].rel[r].kind], g);
			}
			nf = program_frames(c, ser->stack, frames, MAX_OUT_FRAMES);
			site = site_of(frames, nf);
			place(where, sizeof where, site);
			nprof__buf_printf(b, "; threads wait at %s\n", where);
			continue;
		}
		/* The helper the site called (an inlined channel send) tells two
		 * rows with one site apart; the creating line of a thread is
		 * often the bug itself (a client per request). */
		if (site != NULL && site != frames && frames[0].file[0] != '\0') {
			place(where, sizeof where, &frames[0]);
			nprof__buf_printf(b, "  (in %s)", where);
		}
		if (s[i].kind == NPROF_SERIES_THREADS && ser->creator != 0) {
			int nc = program_frames(c, ser->creator, frames, MAX_OUT_FRAMES);
			const struct oframe *cs = site_of(frames, nc);
			if (cs != NULL) {
				place(where, sizeof where, cs);
				nprof__buf_printf(b, "  created at %s", where);
			}
		}
		nprof__buf_putc(b, '\n');
	}
	if (shown_n > MAX_SHOWN)
		nprof__buf_printf(b, "# %zu more not shown\n", shown_n - MAX_SHOWN);
}

/* ------------------------------------------------------------------ */
/* The handler                                                         */
/* ------------------------------------------------------------------ */



/*
 * seconds=N: a snapshot now and more until N seconds from now, evenly
 * spaced (every second up to 60 of them; at least MIN_POINTS so a short N
 * can still be judged). Returns the count taken into snaps[], or -1 when
 * the client left.
 */
static int take_fresh(const struct nprof_req *req, struct nprof_snap **snaps, int points)
{
	int64_t t0 = nprof__mono_ns(), span = (int64_t)req->seconds * 1000000000LL;
	int got = 0;
	for (int i = 0; i < points; i++) {
		if (i > 0 && nprof__req_sleep_until(req, t0 + span * i / (points - 1)) < 0)
			return -1;
		struct nprof_snap *s = nprof__snap_take();
		if (s != NULL)
			snaps[got++] = s;
	}
	return got;
}

void nprof__leaks_handle(const struct nprof_req *req, struct nprof_reply *rep)
{
	const char *format = req->arg(req, "format");
	int json = 0;
	if (format != NULL && strcmp(format, "json") == 0)
		json = 1;
	else if (format != NULL && strcmp(format, "text") != 0) {
		nprof__reply_error(rep, 400, "nprof: bad format=%.32s: want text or json", format);
		return;
	}
	size_t n = 0, points = 0;
	double window = 0;
	struct suspect *s = NULL;
	char how[160];
	if (req->seconds > 0) {
		int want = req->seconds + 1;
		want = want < MIN_POINTS ? MIN_POINTS : want > MAX_FRESH_POINTS ? MAX_FRESH_POINTS : want;
		struct nprof_snap *fresh[MAX_FRESH_POINTS];
		int got = take_fresh(req, fresh, want);
		if (got >= 0) {
			s = rank(fresh, (size_t)got, &n);
			points = (size_t)got;
			window = got > 1 ? (double)(fresh[got - 1]->t_ns - fresh[0]->t_ns) / 1e9 : 0;
		}
		for (int i = 0; i < got; i++)
			nprof__arena_free(fresh[i]);
		if (got < 0) {
			nprof__reply_error(rep, 499, "nprof: client closed the connection");
			return;
		}
		snprintf(how, sizeof how, "fresh, over seconds=%d", req->seconds);
	} else {
		struct nprof_ring_view info;
		s = rank_ring(&n, &window, &points, &info);
		/* Drops are rare (memory bounds); say so only when they happened. */
		if (info.thinned || info.truncated || info.failed)
			snprintf(how, sizeof how, "one every %gs; dropped: %ld thinned, %ld entries, "
				 "%ld failed", info.interval_s, info.thinned, info.truncated, info.failed);
		else
			snprintf(how, sizeof how, "one every %gs for the last minute, coarser before",
				 info.interval_s);
	}
	struct symctx c;
	symctx_open(&c);
	group(&c, s, &n);
	if (json) {
		rep->content_type = "application/json";
		write_json(&rep->body, &c, s, n, window);
	} else {
		write_text(&rep->body, &c, s, n, window, points, how);
	}
	symctx_close(&c);
	nprof__arena_free(s);
	if (rep->body.failed) {
		nprof__buf_free(&rep->body);
		nprof__reply_error(rep, 503, "nprof: out of memory building the leaks report");
	}
}
