/*
 * leaks.c - /debug/pprof/leaks: the series of the snapshot ring
 * (snapshot.c) that grow steadily, ranked, with the line of the program
 * that each one names.
 *
 * Owns the grouping of suspects (a thread leak, its descriptors and its
 * heap are one suspect), the choice of `site` (the first frame of the
 * program's own code, output/frames.c) and of the frames shown, the text
 * table and the JSON of docs/reference.md §4, and the counts /metrics and
 * the index show. The ranking itself is leaks_rank.c's. The maths and
 * the reasons for each threshold are in docs/internals/leaks.md.
 *
 * Data: nothing persistent. A request ranks either the ring (under its
 * lock, computation only) or snapshots it takes itself over ?seconds=N,
 * into an arena array of struct nprof_suspect; it then symbolizes the few
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
#include "frames.h"
#include "leaks.h"
#include "leaks_int.h"
#include "procmaps.h"
#include "profile.h"
#include "stacks.h"
#include "symbolize.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Suspects printed; the rest are counted in the text's header. */
#define MAX_SHOWN 20
/* Frames shown per stack (program frames only). */
#define MAX_OUT_FRAMES 32
/* Points a seconds=N request takes at most (one per second up to that). */
#define MAX_FRESH_POINTS 61

static const char *const kind_names[NPROF_SERIES_KINDS] = {"heap", "threads", "fds"};
static const char *const unit_names[NPROF_SERIES_KINDS] = {"bytes", "threads", "fds"};


long nprof__leaks_suspects(const char *kind)
{
	size_t n, points;
	double window;
	struct nprof_suspect *s = nprof__leaks_rank_ring(&n, &window, &points, NULL);
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

/* The frames of stack `id` that belong to the program (frames.c). */
static int program_frames(struct nprof_frames *c, uint32_t id, struct nprof_oframe *out, int max)
{
	int npcs;
	const uintptr_t *pcs = nprof__stack_get(id, &npcs);
	return nprof__frames_of(c, pcs, npcs, NPROF_FRAMES_PROGRAM, out, max);
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

static int program_pc(struct nprof_frames *c, uintptr_t pc)
{
	return c->st == NULL || !nprof__frames_foreign(c, nprof__sym_mapping(c->st, pc - 1));
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
static void group(struct nprof_frames *c, struct nprof_suspect *s, size_t *np)
{
	size_t n = *np;
	for (size_t i = 0; i < n; i++) {
		struct nprof_suspect *t = &s[i];
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
				struct nprof_suspect *f = &s[j];
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
				t->rel[t->nrel++] = (struct nprof_related){f->series, f->kind, f->start,
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
		qsort(s, out, sizeof *s, nprof__leaks_rank_cmp);
}

/* A header or a system include: helpers such as an inlined channel send
 * live there; the site is the line of the program that called them. */
static int header_file(const char *f)
{
	const char *dot = strrchr(nprof__frames_base_name(f), '.');
	if (strncmp(f, "/usr/include/", 13) == 0 || strncmp(f, "/usr/lib/", 9) == 0)
		return 1;
	return dot != NULL && (strcmp(dot, ".h") == 0 || strcmp(dot, ".hh") == 0 ||
			       strcmp(dot, ".hpp") == 0 || strcmp(dot, ".hxx") == 0 ||
			       strcmp(dot, ".inl") == 0 || strcmp(dot, ".tcc") == 0);
}

/* The site: the first frame of a source file (not a header) of the
 * program; else the first frame; NULL when there is none. */
static const struct nprof_oframe *site_of(const struct nprof_oframe *f, int n)
{
	for (int i = 0; i < n; i++)
		if (f[i].file[0] != '\0' && !header_file(f[i].file))
			return &f[i];
	return n > 0 ? &f[0] : NULL;
}

/* ------------------------------------------------------------------ */
/* Output                                                              */
/* ------------------------------------------------------------------ */

static void json_frame(struct nprof_buf *b, const struct nprof_oframe *f)
{
	nprof__buf_printf(b, "{\"function\": ");
	nprof__buf_json_str(b, f->function);
	nprof__buf_printf(b, ", \"file\": ");
	nprof__buf_json_str(b, f->file);
	nprof__buf_printf(b, ", \"line\": %d}", f->line);
}

static void json_frames(struct nprof_buf *b, const struct nprof_oframe *f, int n)
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
static int suspect_frames(struct nprof_frames *c, const struct nprof_suspect *s, struct nprof_oframe *out)
{
	const struct nprof_series *ser = nprof__series_at(s->series);
	if (s->nrel > 0) {
		int nc;
		const uintptr_t *cp = nprof__stack_get(ser->creator, &nc);
		return nprof__frames_of(c, cp + s->site_depth, nc - s->site_depth,
					NPROF_FRAMES_PROGRAM, out, MAX_OUT_FRAMES);
	}
	return program_frames(c, ser->stack, out, MAX_OUT_FRAMES);
}

static void json_head(struct nprof_buf *b, const struct nprof_suspect *s)
{
	nprof__buf_printf(b, "{\"kind\": \"%s\", \"unit\": \"%s\", \"start\": %" PRId64
			  ", \"end\": %" PRId64 ", \"growth_per_second\": %.1f,"
			  " \"confidence\": %.2f, \"window_seconds\": %.1f", kind_names[s->kind],
			  unit_names[s->kind], s->start, s->end, json_num(s->slope),
			  json_num(s->confidence), json_num(s->window));
	/* The series id, for the web UI's charts (ui/data/history?series=). */
	nprof__buf_printf(b, ", \"series\": %" PRIu32, s->series);
}

static void write_json(struct nprof_buf *b, struct nprof_frames *c, const struct nprof_suspect *s,
		       size_t n, double window)
{
	struct nprof_oframe frames[MAX_OUT_FRAMES], creator[MAX_OUT_FRAMES];
	nprof__buf_printf(b, "{\"window_seconds\": %.1f,\n \"suspects\": [", json_num(window));
	for (size_t i = 0, shown = 0; i < n && shown < MAX_SHOWN; i++) {
		if (s[i].grouped)
			continue;
		const struct nprof_series *ser = nprof__series_at(s[i].series);
		int nf = suspect_frames(c, &s[i], frames);
		const struct nprof_oframe *site = site_of(frames, nf);
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
				const struct nprof_related *x = &s[i].rel[r];
				nf = program_frames(c, nprof__series_at(x->series)->stack, frames,
						    MAX_OUT_FRAMES);
				const struct nprof_oframe *xs = site_of(frames, nf);
				nprof__buf_printf(b, "%s\n      ", r ? "," : "");
				struct nprof_suspect xr = {.kind = x->kind, .start = x->start, .end = x->end,
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
static void place(char *out, size_t cap, const struct nprof_oframe *f)
{
	if (f == NULL)
		snprintf(out, cap, "?");
	else if (f->file[0] != '\0')
		snprintf(out, cap, "%s:%d %s", nprof__frames_base_name(f->file), f->line, f->function);
	else
		snprintf(out, cap, "%s", f->function);
}

/* "+12.3 KiB/s" */
static void fmt_rate(char *out, size_t cap, const struct nprof_suspect *s)
{
	char rate[32];
	fmt_amount(rate, sizeof rate, s->kind, s->slope);
	snprintf(out, cap, "+%s/s", rate);
}

static void write_text(struct nprof_buf *b, struct nprof_frames *c, const struct nprof_suspect *s,
		       size_t n, double window, size_t points, const char *how)
{
	struct nprof_oframe frames[MAX_OUT_FRAMES];
	size_t shown_n = 0;
	for (size_t i = 0; i < n; i++)
		shown_n += !s[i].grouped;
	nprof__buf_printf(b, "# nprof leak suspects: %zu over %.1f s (%zu snapshots, %s)\n",
			  shown_n, window, points, how);
	if (points < NPROF_LEAKS_MIN_POINTS) {
		nprof__buf_printf(b, "# not enough snapshots yet: %zu of %d; ask again later or use "
				  "?seconds=10\n", points, NPROF_LEAKS_MIN_POINTS);
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
		const struct nprof_oframe *site = site_of(frames, nf);
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
				struct nprof_suspect x = {.kind = s[i].rel[r].kind, .slope = s[i].rel[r].slope};
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
			const struct nprof_oframe *cs = site_of(frames, nc);
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
 * spaced (every second up to 60 of them; at least NPROF_LEAKS_MIN_POINTS so
 * a short N can still be judged). Returns the count taken into snaps[], or -1 when
 * the client left.
 */
static int take_fresh(const struct nprof_req *req, struct nprof_snap **snaps, int points)
{
	int64_t t0 = nprof__mono_ns(), span = (int64_t)req->seconds * 1000000000LL;
	int got = 0;
	for (int i = 0; i < points; i++) {
		if (i > 0 && nprof__profile_sleep_until(req, t0 + span * i / (points - 1)) < 0)
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
	struct nprof_suspect *s = NULL;
	char how[160];
	if (req->seconds > 0) {
		int want = req->seconds + 1;
		want = want < NPROF_LEAKS_MIN_POINTS ? NPROF_LEAKS_MIN_POINTS
		       : want > MAX_FRESH_POINTS ? MAX_FRESH_POINTS : want;
		struct nprof_snap *fresh[MAX_FRESH_POINTS];
		int got = take_fresh(req, fresh, want);
		if (got >= 0) {
			s = nprof__leaks_rank_snaps(fresh, (size_t)got, &n);
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
		s = nprof__leaks_rank_ring(&n, &window, &points, &info);
		/* Drops are rare (memory bounds); say so only when they happened. */
		if (info.thinned || info.truncated || info.failed)
			snprintf(how, sizeof how, "one every %gs; dropped: %ld thinned, %ld entries, "
				 "%ld failed", info.interval_s, info.thinned, info.truncated, info.failed);
		else
			snprintf(how, sizeof how, "one every %gs for the last minute, coarser before",
				 info.interval_s);
	}
	struct nprof_frames c;
	nprof__frames_open(&c);
	group(&c, s, &n);
	if (json) {
		rep->content_type = "application/json";
		write_json(&rep->body, &c, s, n, window);
	} else {
		write_text(&rep->body, &c, s, n, window, points, how);
	}
	nprof__frames_close(&c);
	nprof__arena_free(s);
	if (rep->body.failed) {
		nprof__buf_free(&rep->body);
		nprof__reply_error(rep, 503, "nprof: out of memory building the leaks report");
	}
}
