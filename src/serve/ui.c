/*
 * ui.c - /debug/pprof/ui: the web UI, served from files compiled into the
 * library (scripts/ui-embed.sh turns ui/src and ui/vendor into gzipped
 * byte arrays at build time), and the one JSON document it needs that no
 * profile gives: the history of the background snapshots.
 *
 *   /debug/pprof/ui                   index.html
 *   /debug/pprof/ui/FILE              one compiled-in file (app.js, ...)
 *   /debug/pprof/ui/data/history      snapshot ring as JSON (below)
 *   /debug/pprof/ui/data/diff         newest snapshot minus an older one,
 *                                     by stack, symbolized (below)
 *
 * Everything else the UI shows comes from the ordinary profile routes
 * (gzipped profile.proto, decoded in the browser; leaks?format=json;
 * goroutine?debug=2), so the UI sees exactly what pprof sees.
 *
 * Every reply carries a Content-Security-Policy limiting the page to its
 * own origin (no inline script, no other host), so a program-supplied
 * name that slipped past the page's escaping still could not run.
 *
 * Data: the asset table is const; the history is computed per request
 * from the snapshot ring (snapshot.c) under the ring lock, computation
 * only, into the reply buffer (arena).
 *
 * Threads and locking: handlers run on the HTTP threads (hook guard
 * raised, signals blocked), several at once; they share only the ring,
 * read under nprof__ring_lock. Nothing here runs in a signal handler.
 */
#include "arena.h"
#include "base.h"
#include "buf.h"
#include "leaks_int.h"
#include "profile.h"
#include "routes.h"
#include "stacks.h"
#include "symbolize.h"
#include "ui_int.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

/* Series a history request may ask for by id (?series=1,2,3). */
#define MAX_SERIES 16

/* The policy of every UI reply: scripts, styles, images and fetches from
 * this origin only; nothing may frame the page. */
static const char csp[] =
	"default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
	"connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'none'; "
	"frame-ancestors 'none'";

/* Parses "1,2,3" into ids; returns how many (at most max). */
static int parse_ids(const char *s, uint32_t *ids, int max)
{
	int n = 0;

	while (s != NULL && *s != '\0' && n < max) {
		char *end;
		unsigned long v = strtoul(s, &end, 10);
		if (end == s || v > UINT32_MAX)
			break;
		ids[n++] = (uint32_t)v;
		s = *end == ',' ? end + 1 : end;
		if (*end != ',' && *end != '\0')
			break;
	}
	return n;
}

/*
 * {"interval_s": 5, "t": [seconds before now...], "threads": [...],
 *  "heap": [...], "fds": {"KIND": [...]}, "series": {"ID": [...]}}
 * One element per snapshot of the ring, oldest first; heap in bytes.
 */
static void history(const struct nprof_req *req, struct nprof_reply *rep)
{
	struct nprof_buf *b = &rep->body;
	struct nprof_ring_view v;
	uint32_t ids[MAX_SERIES];
	int nids = parse_ids(req->arg(req, "series"), ids, MAX_SERIES);
	/* Descriptor kinds seen in the ring: labels are small integers. */
	uint16_t kinds[64];
	int nkinds = 0;
	int64_t now = nprof__mono_ns();

	rep->content_type = "application/json";
	nprof__ring_lock(&v);
	nprof__buf_printf(b, "{\"interval_s\": %.3f, \"snapshots\": %zu,\n \"t\": [",
			  v.interval_s, v.n);
	for (size_t i = 0; i < v.n; i++)
		nprof__buf_printf(b, "%s%.3f", i ? "," : "",
				  (double)(v.snaps[i]->t_ns - now) / 1e9);
	for (int kind = NPROF_SERIES_HEAP; kind <= NPROF_SERIES_THREADS; kind++) {
		nprof__buf_printf(b, "],\n \"%s\": [",
				  kind == NPROF_SERIES_HEAP ? "heap" : "threads");
		for (size_t i = 0; i < v.n; i++) {
			int64_t sum = 0;
			for (size_t j = 0; j < v.snaps[i]->n; j++) {
				const struct nprof_series *s = nprof__series_at(v.snaps[i]->e[j].series);
				if (s != NULL && s->kind == kind)
					sum += v.snaps[i]->e[j].value;
			}
			nprof__buf_printf(b, "%s%" PRId64, i ? "," : "", sum);
		}
	}
	/* The descriptor kinds present anywhere in the ring, then one array
	 * each. */
	for (size_t i = 0; i < v.n; i++)
		for (size_t j = 0; j < v.snaps[i]->n; j++) {
			const struct nprof_series *s = nprof__series_at(v.snaps[i]->e[j].series);
			int k;
			if (s == NULL || s->kind != NPROF_SERIES_FDS)
				continue;
			for (k = 0; k < nkinds && kinds[k] != s->label; k++)
				;
			if (k == nkinds && nkinds < (int)(sizeof(kinds) / sizeof(kinds[0])))
				kinds[nkinds++] = s->label;
		}
	nprof__buf_printf(b, "],\n \"fds\": {");
	for (int k = 0; k < nkinds; k++) {
		const char *name = nprof__snap_label(kinds[k]);
		nprof__buf_printf(b, "%s\n  ", k ? "," : "");
		nprof__buf_json_str(b, name[0] ? name : "unknown");
		nprof__buf_printf(b, ": [");
		for (size_t i = 0; i < v.n; i++) {
			int64_t sum = 0;
			for (size_t j = 0; j < v.snaps[i]->n; j++) {
				const struct nprof_series *s = nprof__series_at(v.snaps[i]->e[j].series);
				if (s != NULL && s->kind == NPROF_SERIES_FDS && s->label == kinds[k])
					sum += v.snaps[i]->e[j].value;
			}
			nprof__buf_printf(b, "%s%" PRId64, i ? "," : "", sum);
		}
		nprof__buf_putc(b, ']');
	}
	nprof__buf_printf(b, "},\n \"series\": {");
	for (int k = 0; k < nids; k++) {
		nprof__buf_printf(b, "%s\n  \"%" PRIu32 "\": [", k ? "," : "", ids[k]);
		for (size_t i = 0; i < v.n; i++)
			nprof__buf_printf(b, "%s%" PRId64, i ? "," : "",
					  nprof__snap_value(v.snaps[i], ids[k]));
		nprof__buf_putc(b, ']');
	}
	nprof__ring_unlock();
	nprof__buf_printf(b, "}}\n");
}

/* ------------------------------------------------------------------ */
/* Difference between the newest snapshot and one N seconds older      */
/* ------------------------------------------------------------------ */

#define DIFF_MAX_ROWS 400
#define DIFF_MAX_FRAMES 64

struct drow {
	uint32_t series;
	int64_t delta;
};

static int by_abs_delta(const void *a, const void *b)
{
	int64_t x = llabs(((const struct drow *)a)->delta), y = llabs(((const struct drow *)b)->delta);
	return (x < y) - (x > y);
}

/* Appends the rows of the merge of snapshots a (older) and b (newer) for
 * series of `kind` whose value changed. Entries are sorted by series. */
static size_t diff_merge(const struct nprof_snap *a, const struct nprof_snap *b, int kind,
			 struct drow *out, size_t cap)
{
	size_t i = 0, j = 0, n = 0;
	while ((i < a->n || j < b->n) && n < cap) {
		uint32_t sa = i < a->n ? a->e[i].series : UINT32_MAX;
		uint32_t sb = j < b->n ? b->e[j].series : UINT32_MAX;
		uint32_t ser = sa < sb ? sa : sb;
		int64_t va = sa == ser ? a->e[i++].value : 0;
		int64_t vb = sb == ser ? b->e[j++].value : 0;
		const struct nprof_series *s = nprof__series_at(ser);
		if (vb != va && s != NULL && s->kind == kind) {
			out[n].series = ser;
			out[n].delta = vb - va;
			n++;
		}
	}
	return n;
}

/* A whole number of seconds, 1..86400, digits only; 0 or -1. */
static int parse_seconds(const char *s, long *out)
{
	long v = 0;

	if (*s == '\0')
		return -1;
	for (; *s; s++) {
		if (*s < '0' || *s > '9' || v > 86400)
			return -1;
		v = v * 10 + (*s - '0');
	}
	if (v < 1 || v > 86400)
		return -1;
	*out = v;
	return 0;
}

/*
 * ui/data/diff?kind=heap|threads|fds&ago=N: for each series of the
 * kind whose value differs between the newest snapshot and the newest one
 * at least N seconds older (or the oldest), the change and the stack,
 * symbolized, innermost first, inlined calls as frames of their own:
 * {"kind", "unit", "seconds", "rows": [{"delta", "label", "frames":
 * [{"function", "file", "line", "inlined"}]}]}. The biggest
 * DIFF_MAX_ROWS changes. The ring lock is held for the merge only; the
 * symbolizer session comes after.
 */
static void diff(const struct nprof_req *req, struct nprof_reply *rep)
{
	static const char *const kinds[] = { "heap", "threads", "fds" };
	static const char *const units[] = { "bytes", "threads", "fds" };
	const char *k = req->arg(req, "kind");
	const char *sec = req->arg(req, "ago");
	int kind = -1;
	long seconds = 60;
	struct nprof_buf *b = &rep->body;
	struct nprof_ring_view v;
	struct drow *rows;
	size_t n = 0, cap = 65536;
	double span = 0;

	for (int i = 0; i < 3; i++)
		if (k != NULL && strcmp(k, kinds[i]) == 0)
			kind = i;
	if (kind < 0 || (sec != NULL && parse_seconds(sec, &seconds) < 0)) {
		nprof__reply_error(rep, 400, "nprof: want kind=heap|threads|fds and ago=1..86400 (seconds)");
		return;
	}
	rows = nprof__arena_alloc(sizeof *rows * cap);
	if (rows == NULL) {
		nprof__reply_error(rep, 503, "nprof: out of memory");
		return;
	}
	nprof__ring_lock(&v);
	if (v.n >= 2) {
		const struct nprof_snap *last = v.snaps[v.n - 1], *first = v.snaps[0];
		for (size_t i = v.n - 1; i-- > 0;) {
			first = v.snaps[i];
			if (last->t_ns - v.snaps[i]->t_ns >= (int64_t)seconds * 1000000000LL)
				break;
		}
		span = (double)(last->t_ns - first->t_ns) / 1e9;
		n = diff_merge(first, last, kind, rows, cap);
	}
	size_t nsnaps = v.n;
	nprof__ring_unlock();

	qsort(rows, n, sizeof *rows, by_abs_delta);
	if (n > DIFF_MAX_ROWS)
		n = DIFF_MAX_ROWS;
	rep->content_type = "application/json";
	nprof__buf_printf(b, "{\"kind\": \"%s\", \"unit\": \"%s\", \"seconds\": %.1f,"
			  " \"snapshots\": %zu, \"rows\": [", kinds[kind], units[kind], span, nsnaps);
	struct nprof_symtab *st = n > 0 ? nprof__sym_open() : NULL;
	for (size_t r = 0; r < n; r++) {
		const struct nprof_series *s = nprof__series_at(rows[r].series);
		int npcs = 0, nout = 0;
		const uintptr_t *pcs = s != NULL ? nprof__stack_get(s->stack, &npcs) : NULL;
		nprof__buf_printf(b, "%s\n {\"delta\": %" PRId64 ", \"label\": ", r ? "," : "",
				  rows[r].delta);
		nprof__buf_json_str(b, s != NULL ? nprof__snap_label(s->label) : "");
		nprof__buf_printf(b, ", \"frames\": [");
		for (int i = 0; pcs != NULL && i < npcs && nout < DIFF_MAX_FRAMES; i++) {
			/* Return addresses (as the leak table looks them up). */
			uintptr_t addr = pcs[i] - 1;
			struct nprof_frame fr[16];
			int nf = st != NULL ? nprof__sym_lookup(st, addr, fr, 16) : 0;
			if (nf <= 0) {
				nprof__buf_printf(b, "%s{\"function\": \"%#lx\", \"file\": \"\", \"line\": 0}",
						  nout++ ? "," : "", (unsigned long)addr);
				continue;
			}
			for (int f = 0; f < nf; f++) {
				nprof__buf_printf(b, "%s{\"function\": ", nout++ ? "," : "");
				nprof__buf_json_str(b, fr[f].function[0] ? fr[f].function : "?");
				nprof__buf_printf(b, ", \"file\": ");
				nprof__buf_json_str(b, fr[f].file);
				nprof__buf_printf(b, ", \"line\": %d%s}", fr[f].line,
						  f < nf - 1 ? ", \"inlined\": true" : "");
			}
		}
		nprof__buf_printf(b, "]}");
	}
	if (st != NULL)
		nprof__sym_close(st);
	nprof__buf_printf(b, "]}\n");
	nprof__arena_free(rows);
}

void nprof__ui_handle(const struct nprof_req *req, struct nprof_reply *rep)
{
	const char *path = req->name + 2; /* past "ui" */

	rep->csp = csp;
	if (*path == '/')
		path++;
	if (*path == '\0')
		path = "index.html";
	if (strcmp(path, "data/history") == 0) {
		history(req, rep);
		return;
	}
	if (strcmp(path, "data/diff") == 0) {
		diff(req, rep);
		return;
	}
	for (const struct nprof_ui_asset *a = nprof__ui_assets; a->path != NULL; a++) {
		if (strcmp(a->path, path) != 0)
			continue;
		rep->content_type = a->type;
		rep->encoding = "gzip";
		nprof__buf_append(&rep->body, a->gz, a->len);
		return;
	}
	nprof__reply_error(rep, 404, "nprof: no UI file %.128s", path);
}
