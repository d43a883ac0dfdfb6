/*
 * table.c - the flat/cum table of `nprof top` and `nprof diff`:
 * nprof_top_report() turns decoded profiles (profile.c) into the table.
 * Units and number formatting (pprof's measurement package) are units.c's.
 *
 * The table is meant to read exactly like `go tool pprof -top`, so that
 * users and scripts can move between the two: same node identity (a
 * function name, or "function file:line" with --lines, each inlined
 * frame its own node), same flat and cum rules, same 0.5% node cut-off,
 * same sort order, same unit choice and number formatting. The rules are
 * those of github.com/google/pprof internal/graph, internal/report and
 * internal/measurement; each piece below names the function it follows.
 *
 * Data structures: nodes live in one array, found by name through a
 * small open-addressing string map; each location of each profile is
 * mapped once to its node indexes (one per Line). A sample is then just
 * a walk over small integers. Single-threaded; all memory is freed
 * before nprof_top_report() returns.
 */
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "profile.h"
#include "units.h"

/* pprof's default -nodefraction. */
#define NODE_FRACTION 0.005

static int64_t abs64(int64_t v)
{
	return v < 0 ? -v : v;
}

/* ------------------------------------------------------------------ */
/* A string -> dense index map                                          */
/* ------------------------------------------------------------------ */

struct strmap {
	char **keys;            /* slot -> owned key or NULL */
	size_t *vals;           /* slot -> index */
	size_t cap, n;
};

static uint64_t hash_bytes(const char *s, size_t n)
{
	uint64_t h = 1469598103934665603ull;    /* FNV-1a */

	for (size_t i = 0; i < n; i++)
		h = (h ^ (unsigned char)s[i]) * 1099511628211ull;
	return h;
}

static int strmap_grow(struct strmap *m)
{
	size_t ncap = m->cap ? m->cap * 2 : 1024;
	char **nk = calloc(ncap, sizeof(*nk));
	size_t *nv = calloc(ncap, sizeof(*nv));

	if (!nk || !nv) {
		free(nk);
		free(nv);
		return -ENOMEM;
	}
	for (size_t i = 0; i < m->cap; i++) {
		size_t j;

		if (!m->keys[i])
			continue;
		j = hash_bytes(m->keys[i], strlen(m->keys[i])) & (ncap - 1);
		while (nk[j])
			j = (j + 1) & (ncap - 1);
		nk[j] = m->keys[i];
		nv[j] = m->vals[i];
	}
	free(m->keys);
	free(m->vals);
	m->keys = nk;
	m->vals = nv;
	m->cap = ncap;
	return 0;
}

/* The index of `key`, inserting it as index m->n when new (and then
 * setting *created when given). Returns the index, or -1 when out of
 * memory. */
static long strmap_intern(struct strmap *m, const char *key, int *created)
{
	size_t n = strlen(key), j;
	char *k;

	if ((m->n + 1) * 2 > m->cap && strmap_grow(m) != 0)
		return -1;
	j = hash_bytes(key, n) & (m->cap - 1);
	while (m->keys[j]) {
		if (strcmp(m->keys[j], key) == 0)
			return (long)m->vals[j];
		j = (j + 1) & (m->cap - 1);
	}
	k = strdup(key);
	if (!k)
		return -1;
	if (created)
		*created = 1;
	m->keys[j] = k;
	m->vals[j] = m->n;
	return (long)m->n++;
}

static void strmap_free(struct strmap *m)
{
	for (size_t i = 0; i < m->cap; i++)
		free(m->keys[i]);
	free(m->keys);
	free(m->vals);
	memset(m, 0, sizeof(*m));
}

/* A growable string for building names and keys. */
struct sbuf {
	char *s;
	size_t len, cap;
	int oom;
};

__attribute__((format(printf, 2, 3)))
static void sb_printf(struct sbuf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	for (;;) {
		size_t room = b->cap - b->len;

		va_start(ap, fmt);
		n = vsnprintf(b->s ? b->s + b->len : NULL, b->s ? room : 0, fmt, ap);
		va_end(ap);
		if (n < 0) {
			b->oom = 1;
			return;
		}
		if (b->s && (size_t)n < room) {
			b->len += (size_t)n;
			return;
		}
		size_t ncap = (b->cap ? b->cap : 256);
		while (ncap < b->len + (size_t)n + 1)
			ncap *= 2;
		char *ns = realloc(b->s, ncap);
		if (!ns) {
			b->oom = 1;
			return;
		}
		b->s = ns;
		b->cap = ncap;
	}
}

/* ------------------------------------------------------------------ */
/* Node names (pprof graph.nodeInfo and NodeInfo.NameComponents)         */
/* ------------------------------------------------------------------ */

/* Go's filepath.Clean, which pprof applies to source file names. */
static void clean_path(const char *in, struct sbuf *out)
{
	const char *seg[256];
	size_t seglen[256], nseg = 0, dotdot = 0;
	int rooted = in[0] == '/';
	const char *p = in;

	while (*p) {
		const char *s;
		size_t n;

		while (*p == '/')
			p++;
		s = p;
		while (*p && *p != '/')
			p++;
		n = (size_t)(p - s);
		if (n == 0 || (n == 1 && s[0] == '.'))
			continue;
		if (n == 2 && s[0] == '.' && s[1] == '.') {
			if (nseg > dotdot) {
				nseg--;
				continue;
			}
			if (rooted)
				continue;
			dotdot++;   /* a leading ".." stays */
		}
		if (nseg == sizeof(seg) / sizeof(seg[0])) {
			/* Absurdly deep: keep the name as given. */
			sb_printf(out, "%s", in);
			return;
		}
		seg[nseg] = s;
		seglen[nseg++] = n;
	}
	if (rooted)
		sb_printf(out, "/");
	for (size_t i = 0; i < nseg; i++)
		sb_printf(out, "%s%.*s", i ? "/" : "", (int)seglen[i], seg[i]);
	if (!rooted && nseg == 0)
		sb_printf(out, ".");
}

static const char *base_name(const char *path)
{
	const char *s = strrchr(path, '/');

	return s && s[1] ? s + 1 : path;
}

/* The node name of frame `ln` (NULL: a location without lines) in a
 * location mapped from `objfile`. Addresses are never part of it: pprof's
 * function and line granularities zero them. */
static void node_name(const struct nprof_profile_line *ln, const char *objfile,
		      int lines, struct sbuf *b)
{
	const struct nprof_profile_function *fn = ln ? ln->function : NULL;
	const char *name = fn ? fn->name : "";
	int64_t lineno = fn && lines ? ln->line : 0;
	int have_file = fn && lines && fn->filename[0];

	b->len = 0;
	sb_printf(b, "%s", "");
	if (name[0])
		sb_printf(b, "%s", name);
	if (lineno != 0 || have_file) {
		sb_printf(b, "%s", name[0] ? " " : "");
		clean_path(have_file ? fn->filename : "", b);
		if (lineno != 0)
			sb_printf(b, ":%lld", (long long)lineno);
	} else if (!name[0]) {
		/* Objfile is only part of a node without a function name. */
		if (objfile && objfile[0])
			sb_printf(b, "[%s]", base_name(objfile));
		else
			sb_printf(b, "<unknown>");
	}
}

/* ------------------------------------------------------------------ */
/* The graph                                                            */
/* ------------------------------------------------------------------ */

enum { INL_YES = 1, INL_NO = 2 };

struct node {
	const char *name;       /* owned by the name map */
	int64_t flat, cum;
	size_t stamp;           /* last sample counted in cum */
	int kept, inl;
};

/* Per source: the node of every Line of every location. */
struct src_nodes {
	size_t **loc;           /* [location index][line index] */
	size_t *nloc;           /* nodes per location (>= 1) */
	size_t nlocation;
};

struct graph {
	struct strmap names;
	struct node *nodes;
	size_t cap;
	struct src_nodes *src;
	size_t nsrc;
};

static long add_node(struct graph *g, const char *name)
{
	int created = 0;
	long i = strmap_intern(&g->names, name, &created);

	if (i < 0)
		return -1;
	if ((size_t)i >= g->cap) {
		size_t ncap = g->cap ? g->cap * 2 : 256;
		struct node *nn = realloc(g->nodes, ncap * sizeof(*nn));

		if (!nn)
			return -1;
		g->nodes = nn;
		g->cap = ncap;
	}
	if (created) {
		memset(&g->nodes[i], 0, sizeof(g->nodes[i]));
		g->nodes[i].stamp = (size_t)-1;
	}
	return i;
}

/* Maps every location of every source to its nodes. */
static int map_locations(struct graph *g, const struct nprof_top_source *src,
			 size_t nsrc, int lines)
{
	struct sbuf name = {0};

	g->src = calloc(nsrc, sizeof(*g->src));
	if (!g->src)
		return -ENOMEM;
	g->nsrc = nsrc;
	for (size_t s = 0; s < nsrc; s++) {
		const struct nprof_profile *p = src[s].p;
		struct src_nodes *sn = &g->src[s];

		sn->loc = calloc(p->nlocation ? p->nlocation : 1, sizeof(*sn->loc));
		sn->nloc = calloc(p->nlocation ? p->nlocation : 1, sizeof(*sn->nloc));
		if (!sn->loc || !sn->nloc)
			goto oom;
		sn->nlocation = p->nlocation;
		for (size_t l = 0; l < p->nlocation; l++) {
			const struct nprof_profile_location *loc = &p->location[l];
			const char *obj = loc->mapping ? loc->mapping->file : "";
			size_t n = loc->nline ? loc->nline : 1;

			sn->loc[l] = calloc(n, sizeof(**sn->loc));
			if (!sn->loc[l])
				goto oom;
			sn->nloc[l] = n;
			for (size_t i = 0; i < n; i++) {
				long id;

				node_name(loc->nline ? &loc->line[i] : NULL, obj, lines, &name);
				if (name.oom || (id = add_node(g, name.s)) < 0)
					goto oom;
				sn->loc[l][i] = (size_t)id;
			}
		}
	}
	/* Names point into the map only now that it has stopped growing. */
	for (size_t i = 0; i < g->names.cap; i++)
		if (g->names.keys[i])
			g->nodes[g->names.vals[i]].name = g->names.keys[i];
	free(name.s);
	return 0;
oom:
	free(name.s);
	return -ENOMEM;
}

static void graph_free(struct graph *g)
{
	for (size_t s = 0; s < g->nsrc; s++) {
		const struct src_nodes *sn = &g->src[s];

		for (size_t l = 0; sn->loc && l < sn->nlocation; l++)
			free(sn->loc[l]);
		free(sn->loc);
		free(sn->nloc);
	}
	free(g->src);
	free(g->nodes);
	strmap_free(&g->names);
}

static size_t loc_index(const struct nprof_profile *p,
			const struct nprof_profile_location *loc)
{
	return (size_t)(loc - p->location);
}

/*
 * pprof graph.newGraph: cum counts a sample once per node anywhere in
 * its stack, flat goes to the leaf frame (the innermost inlined function
 * of location[0]). Samples of weight 0 touch nothing. With `edges` set,
 * instead records for each kept node whether it is entered through an
 * inlined call (its frame is not the last Line of its location) or a
 * real one, skipping dropped nodes as pprof does when it rebuilds the
 * trimmed graph.
 */
static void walk_samples(struct graph *g, const struct nprof_top_source *src,
			 size_t nsrc, int edges)
{
	size_t stamp = 0;

	for (size_t s = 0; s < nsrc; s++) {
		const struct nprof_profile *p = src[s].p;

		for (size_t i = 0; i < p->nsample; i++) {
			const struct nprof_profile_sample *sm = &p->sample[i];
			int64_t w = sm->value[src[s].index] * src[s].sign;
			long parent = -1;

			if (w == 0)
				continue;
			stamp++;
			for (size_t k = sm->nlocation; k-- > 0;) {
				size_t li = loc_index(p, sm->location[k]);
				size_t n = g->src[s].nloc[li];

				for (size_t f = n; f-- > 0;) {
					size_t id = g->src[s].loc[li][f];
					struct node *nd = &g->nodes[id];

					if (!edges) {
						if (nd->stamp != stamp) {
							nd->stamp = stamp;
							nd->cum += w;
						}
						parent = (long)id;
						continue;
					}
					if (!nd->kept)
						continue;
					if (parent >= 0 && (size_t)parent != id)
						nd->inl |= f != n - 1 ? INL_YES : INL_NO;
					parent = (long)id;
				}
			}
			if (!edges && parent >= 0)
				g->nodes[parent].flat += w;
		}
	}
}

/*
 * pprof report.computeTotal: the sum of |value| over samples. For a diff
 * pprof first merges BASE (negated) and NEW, so identical stacks cancel:
 * the total is then the sum of |NEW - BASE| per distinct stack, where a
 * stack is its frames (object, offset in it, functions and lines) and
 * labels, as profile.Merge keys samples.
 */
static int compute_total(const struct nprof_top_source *src, size_t nsrc, int64_t *total)
{
	struct strmap keys = {0};
	struct sbuf k = {0};
	int64_t *sum = NULL;
	size_t cap = 0;
	int rc = -ENOMEM;

	*total = 0;
	if (nsrc == 1) {
		for (size_t i = 0; i < src[0].p->nsample; i++)
			*total += abs64(src[0].p->sample[i].value[src[0].index]);
		return 0;
	}
	for (size_t s = 0; s < nsrc; s++) {
		const struct nprof_profile *p = src[s].p;

		for (size_t i = 0; i < p->nsample; i++) {
			const struct nprof_profile_sample *sm = &p->sample[i];
			long id;

			k.len = 0;
			sb_printf(&k, "%s", "");
			for (size_t l = 0; l < sm->nlocation; l++) {
				const struct nprof_profile_location *loc = sm->location[l];
				const struct nprof_profile_mapping *m = loc->mapping;

				if (m)
					sb_printf(&k, "%llx/%llx/%s@%llx",
						  (unsigned long long)(m->limit - m->start),
						  (unsigned long long)m->offset,
						  m->build_id[0] ? m->build_id : m->file,
						  (unsigned long long)(loc->address - m->start));
				else
					sb_printf(&k, "@%llx", (unsigned long long)loc->address);
				for (size_t f = 0; f < loc->nline; f++) {
					const struct nprof_profile_function *fn =
						loc->line[f].function;

					sb_printf(&k, "|%s\x1f%s\x1f%s\x1f%lld",
						  fn ? fn->name : "", fn ? fn->system_name : "",
						  fn ? fn->filename : "",
						  (long long)loc->line[f].line);
				}
				sb_printf(&k, "\x1e");
			}
			/* Label order is the encoder's; nprof's is stable. */
			for (size_t l = 0; l < sm->nlabel; l++)
				sb_printf(&k, "\x1d%s=%s#%lld%s", sm->label[l].key,
					  sm->label[l].str, (long long)sm->label[l].num,
					  sm->label[l].num_unit);
			if (k.oom || (id = strmap_intern(&keys, k.s, NULL)) < 0)
				goto out;
			if ((size_t)id >= cap) {
				size_t ncap = cap ? cap * 2 : 1024;
				int64_t *ns = realloc(sum, ncap * sizeof(*ns));

				if (!ns)
					goto out;
				memset(ns + cap, 0, (ncap - cap) * sizeof(*ns));
				sum = ns;
				cap = ncap;
			}
			sum[id] += sm->value[src[s].index] * src[s].sign;
		}
	}
	for (size_t i = 0; i < keys.n; i++)
		*total += abs64(sum[i]);
	rc = 0;
out:
	free(sum);
	free(k.s);
	strmap_free(&keys);
	return rc;
}

static int cmp_flat(const void *a, const void *b)
{
	const struct node *l = *(const struct node *const *)a;
	const struct node *r = *(const struct node *const *)b;
	int c;

	if (abs64(l->flat) != abs64(r->flat))
		return abs64(l->flat) > abs64(r->flat) ? -1 : 1;
	if ((c = strcmp(l->name, r->name)) != 0)
		return c;
	if (abs64(l->cum) != abs64(r->cum))
		return abs64(l->cum) > abs64(r->cum) ? -1 : 1;
	return 0;
}

static int cmp_cum(const void *a, const void *b)
{
	const struct node *l = *(const struct node *const *)a;
	const struct node *r = *(const struct node *const *)b;
	int c;

	if (abs64(l->cum) != abs64(r->cum))
		return abs64(l->cum) > abs64(r->cum) ? -1 : 1;
	if ((c = strcmp(l->name, r->name)) != 0)
		return c;
	if (abs64(l->flat) != abs64(r->flat))
		return abs64(l->flat) > abs64(r->flat) ? -1 : 1;
	return 0;
}

/* ------------------------------------------------------------------ */
/* Printing                                                             */
/* ------------------------------------------------------------------ */

/* What the table is printed with, chosen once like pprof's report. */
struct fmt {
	const char *sample_unit;        /* lower-cased unit of the values */
	char out_unit[32];              /* report.selectOutputUnit's choice */
	int plus;                       /* signed values (diff) */
};

static const char *fmt_value(const struct fmt *f, int64_t v, char *buf, size_t len)
{
	return nprof_units_label(v, f->sample_unit, f->out_unit, f->plus, buf, len);
}

/* report.selectOutputUnit: the unit of the smallest non-zero node value,
 * or a larger one when that would still show it as >= 0.01. */
static void select_output_unit(struct fmt *f, struct node **shown, size_t n, int64_t total)
{
	int64_t minv = 0;
	const char *umin, *umax, *u;

	snprintf(f->out_unit, sizeof(f->out_unit), "minimum");
	if (n == 0)
		return;
	for (size_t i = 0; i < n; i++) {
		int64_t m = abs64(shown[i]->flat);

		if (m == 0)
			m = abs64(shown[i]->cum);
		if (m > 0 && (minv == 0 || m < minv))
			minv = m;
	}
	if (minv == 0)
		minv = total;
	nprof_units_scale(minv, f->sample_unit, "minimum", &umin);
	nprof_units_scale(total, f->sample_unit, "minimum", &umax);
	u = umin;
	if (strcmp(umin, umax) != 0 && minv < INT64_MAX / 100 && minv * 100 < total)
		nprof_units_scale(100 * minv, f->sample_unit, "minimum", &u);
	snprintf(f->out_unit, sizeof(f->out_unit), "%s", u[0] ? u : f->sample_unit);
}

static void print_time(FILE *out, int64_t nanos)
{
	time_t t = (time_t)(nanos / 1000000000);
	struct tm tm;
	char buf[64];

	if (!localtime_r(&t, &tm) ||
	    strftime(buf, sizeof(buf), "%b %-d, %Y at %-I:%M%p (%Z)", &tm) == 0)
		return;
	/* Go writes "3:04pm" where strftime writes "3:04PM". */
	char *ampm = strstr(buf, "M (");

	if (ampm && ampm > buf) {
		ampm[-1] = (char)tolower((unsigned char)ampm[-1]);
		ampm[0] = 'm';
	}
	fprintf(out, "Time: %s\n", buf);
}

static int64_t source_sum(const struct nprof_top_source *s)
{
	int64_t sum = 0;

	for (size_t i = 0; i < s->p->nsample; i++)
		sum += s->p->sample[i].value[s->index];
	return sum;
}

/* report.ProfileLabels, plus for a diff one line per input. */
static void print_header(FILE *out, const struct nprof_top_source *src, size_t nsrc,
			 const struct fmt *f, int64_t total)
{
	const struct nprof_profile *p = src[nsrc - 1].p;
	const struct nprof_profile_value_type *vt = &p->sample_type[src[nsrc - 1].index];
	char a[64], b[64], d[64];

	if (p->nmapping && p->mapping[0].file[0])
		fprintf(out, "File: %s\n", base_name(p->mapping[0].file));
	if (p->nmapping && p->mapping[0].build_id[0])
		fprintf(out, "Build ID: %s\n", p->mapping[0].build_id);
	for (size_t i = 0; i < p->ncomment; i++)
		if (p->comment[i][0] != '#')
			fprintf(out, "%s\n", p->comment[i]);
	fprintf(out, "Type: %s\n", vt->type);
	if (nsrc == 2) {
		struct fmt unsigned_fmt = *f;

		unsigned_fmt.plus = 0;
		for (size_t s = 0; s < nsrc; s++) {
			const struct nprof_profile *q = src[s].p;

			fprintf(out, "%s %s: ", s == 0 ? "Base:" : "New: ", src[s].label);
			if (q->duration_nanos)
				fprintf(out, "Duration: %s, ",
					nprof_units_label(q->duration_nanos, "nanoseconds", "auto",
						     0, d, sizeof(d)));
			fprintf(out, "Total samples = %s\n",
				fmt_value(&unsigned_fmt, source_sum(&src[s]), a, sizeof(a)));
		}
		fprintf(out, "Change (NEW - BASE): %s\n",
			fmt_value(f, source_sum(&src[1]) - source_sum(&src[0]), a, sizeof(a)));
		return;
	}
	if (p->time_nanos)
		print_time(out, p->time_nanos);
	if (p->duration_nanos) {
		const char *u;
		double ns = nprof_units_scale(total, f->sample_unit, "nanoseconds", &u);

		fprintf(out, "Duration: %s, Total samples = %s",
			nprof_units_label(p->duration_nanos, "nanoseconds", "auto", 0, d, sizeof(d)),
			fmt_value(f, total, a, sizeof(a)));
		/* pprof leaves the blank before an absent ratio. */
		fprintf(out, " ");
		if (strcmp(u, "ns") == 0 && ns != 0)
			fprintf(out, "(%s)", nprof_units_percent((int64_t)ns, p->duration_nanos,
							b, sizeof(b)));
		fprintf(out, "\n");
	}
}

static void print_table(FILE *out, const struct nprof_top_source *src, size_t nsrc,
			struct node **shown, size_t nshown, size_t orig, size_t dropped,
			int64_t total, const struct fmt *f)
{
	int64_t flat_sum = 0;
	char a[64], b[64], c[64], d[64], e[64];
	struct fmt uf = *f;     /* totals are magnitudes: no '+' */

	uf.plus = 0;
	print_header(out, src, nsrc, f, total);
	for (size_t i = 0; i < nshown; i++)
		flat_sum += shown[i]->flat;
	nprof_units_percent(flat_sum, total, b, sizeof(b));
	fprintf(out, "Showing nodes accounting for %s, %s of %s total\n",
		fmt_value(f, flat_sum, a, sizeof(a)), b + strspn(b, " "),
		fmt_value(&uf, total, c, sizeof(c)));
	if (total != 0) {
		if (dropped > 0)
			fprintf(out, "Dropped %zu node%s (cum <= %s)\n", dropped,
				dropped > 1 ? "s" : "",
				fmt_value(&uf, abs64((int64_t)((double)total * NODE_FRACTION)),
					  a, sizeof(a)));
		if (nshown > 0 && nshown < orig)
			fprintf(out, "Showing top %zu nodes out of %zu\n", nshown, orig);
	}
	fprintf(out, "%10s %5s%% %5s%% %10s %5s%%\n", "flat", "flat", "sum", "cum", "cum");
	flat_sum = 0;
	for (size_t i = 0; i < nshown; i++) {
		const struct node *n = shown[i];
		const char *inl = n->inl & INL_YES ?
			(n->inl & INL_NO ? " (partial-inline)" : " (inline)") : "";

		flat_sum += n->flat;
		fprintf(out, "%10s %s %s %10s %s  %s%s\n",
			fmt_value(f, n->flat, a, sizeof(a)),
			nprof_units_percent(n->flat, total, b, sizeof(b)),
			nprof_units_percent(flat_sum, total, c, sizeof(c)),
			fmt_value(f, n->cum, d, sizeof(d)),
			nprof_units_percent(n->cum, total, e, sizeof(e)), n->name, inl);
	}
}

int nprof_top_report(FILE *out, const struct nprof_top_source *src, size_t nsrc,
		     const struct nprof_top_options *o)
{
	struct graph g = {0};
	struct node **shown = NULL;
	struct fmt f = {0};
	char unit[64];
	int64_t total, net = 0, cutoff;
	size_t nshown = 0, orig, dropped = 0;
	int rc = -ENOMEM;
	const char *su = src[nsrc - 1].p->sample_type[src[nsrc - 1].index].unit;

	if (map_locations(&g, src, nsrc, o->lines) != 0)
		goto out;
	walk_samples(&g, src, nsrc, 0);
	if (compute_total(src, nsrc, &total) != 0)
		goto out;

	/* report.newTrimmedGraph: nodes no sample touched are not nodes;
	 * then those under the cum cut-off go, then all but the top N. */
	shown = calloc(g.names.n ? g.names.n : 1, sizeof(*shown));
	if (!shown)
		goto out;
	for (size_t i = 0; i < g.names.n; i++)
		if (g.nodes[i].flat != 0 || g.nodes[i].cum != 0) {
			shown[nshown++] = &g.nodes[i];
			net += g.nodes[i].flat;
		}
	cutoff = abs64((int64_t)((double)net * NODE_FRACTION));
	if (cutoff > 0) {
		size_t k = 0;

		for (size_t i = 0; i < nshown; i++)
			if (abs64(shown[i]->cum) >= cutoff)
				shown[k++] = shown[i];
		dropped = nshown - k;
		nshown = k;
	}
	orig = nshown;
	qsort(shown, nshown, sizeof(*shown), o->cum ? cmp_cum : cmp_flat);
	if (o->nodecount > 0 && nshown > (size_t)o->nodecount)
		nshown = (size_t)o->nodecount;
	for (size_t i = 0; i < nshown; i++)
		shown[i]->kept = 1;
	walk_samples(&g, src, nsrc, 1);

	/* pprof lower-cases the unit before matching it. */
	snprintf(unit, sizeof(unit), "%s", su);
	for (char *p = unit; *p; p++)
		*p = (char)tolower((unsigned char)*p);
	f.sample_unit = unit;
	f.plus = nsrc > 1;
	select_output_unit(&f, shown, nshown, total);
	print_table(out, src, nsrc, shown, nshown, orig, dropped, total, &f);
	rc = fflush(out) == 0 && !ferror(out) ? 0 : -EIO;
out:
	free(shown);
	graph_free(&g);
	return rc;
}
