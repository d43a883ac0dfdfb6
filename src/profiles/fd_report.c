/*
 * fd_report.c - /debug/pprof/fd: the descriptor table's snapshots (fd.c)
 * grouped by creating stack and kind, as a profile (debug=0), Go-style
 * text listing every descriptor (debug=1) or a delta (seconds=N); and the
 * counts /metrics and the leak snapshots read.
 *
 * Runs on HTTP or snapshot threads with the hook guard raised; takes no
 * lock of its own (a snapshot is a private copy). Not for signal handlers.
 */
#include "arena.h"
#include "base.h"
#include "buf.h"
#include "fd.h"
#include "fd_int.h"
#include "fd_report.h"
#include "frames.h"
#include "pprof.h"
#include "procmaps.h"
#include "profile.h"
#include "stacks.h"
#include "symbolize.h"

#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ------------------------------------------------------------------ */
/* Grouping                                                            */
/* ------------------------------------------------------------------ */

/* Descriptors of one (stack, kind): a profile sample. */
struct group {
	uint32_t stack;         /* 0 = unknown origin */
	uint8_t kind;
	int64_t count;
	size_t first;           /* index of its first entry in the sorted snapshot */
};

static int cmp_ent(const void *a, const void *b)
{
	const struct fd_ent *x = a, *y = b;
	if (x->stack != y->stack)
		return x->stack < y->stack ? -1 : 1;
	if (x->kind != y->kind)
		return x->kind < y->kind ? -1 : 1;
	return (x->fd > y->fd) - (x->fd < y->fd);
}

/* Sorts the snapshot by (stack, kind, fd) and returns its groups; NULL
 * with *ng = 0 for an empty snapshot or when out of memory. */
static struct group *group_snap(struct snap *s, size_t *ng)
{
	*ng = 0;
	if (s->n == 0)
		return NULL;
	qsort(s->e, s->n, sizeof *s->e, cmp_ent);
	struct group *g = nprof__arena_alloc(sizeof *g * s->n);
	if (g == NULL)
		return NULL;
	size_t n = 0;
	for (size_t i = 0; i < s->n; i++) {
		if (n == 0 || g[n - 1].stack != s->e[i].stack || g[n - 1].kind != s->e[i].kind) {
			g[n].stack = s->e[i].stack;
			g[n].kind = s->e[i].kind;
			g[n].count = 0;
			g[n].first = i;
			n++;
		}
		g[n - 1].count++;
	}
	*ng = n;
	return g;
}

static int cmp_group_count(const void *a, const void *b)
{
	const struct group *x = a, *y = b;
	if (x->count != y->count)
		return x->count > y->count ? -1 : 1;
	if (x->stack != y->stack)
		return x->stack < y->stack ? -1 : 1;
	return (x->kind > y->kind) - (x->kind < y->kind);
}

/*
 * The frame that descriptors of unknown origin are charged to: a real
 * function, so that every pprof view (top, traces, flame graphs) shows
 * them under a name that says what they are. Never called.
 */
static __attribute__((noinline, used)) void fd_unknown_origin(void)
{
	__asm__ volatile("" ::: "memory");
}

/* The stack of a group: its interned frames, or the synthetic one. */
static const uintptr_t *group_pcs(uint32_t stack, int *n, uintptr_t *synthetic)
{
	if (stack != 0) {
		const uintptr_t *p = nprof__stack_get(stack, n);
		if (p != NULL)
			return p;
	}
	/* +1: the builder symbolizes return addresses minus one. */
	*synthetic = (uintptr_t)fd_unknown_origin + 1;
	*n = 1;
	return synthetic;
}

/* ------------------------------------------------------------------ */
/* Output                                                              */
/* ------------------------------------------------------------------ */

static const struct nprof_value_type fd_types[] = { {"fds", "count"} };

static int add_group(struct nprof_pb *pb, uint32_t stack, int kind, int64_t value)
{
	uintptr_t synth;
	int n;
	const uintptr_t *pcs = group_pcs(stack, &n, &synth);
	struct nprof_label labels[2] = {
		{ .key = "kind", .str = nprof__fd_kind_names[kind] },
		{ .key = "origin", .str = "unknown" },
	};
	return nprof__pb_add(pb, pcs, n, &value, labels, stack == 0 ? 2 : 1);
}

/* ------------------------------------------------------------------ */
/* The fd profile (profile.h's interface)                              */
/* ------------------------------------------------------------------ */

/* A snapshot: the listing and its (stack, kind) groups; after subtract
 * the groups are the differences (negative where a group shrank). */
struct fdsnap {
	struct snap s;
	struct group *g;
	size_t ng;
};

static void fd_release(const void *self, void *snap)
{
	struct fdsnap *fs = snap;
	(void)self;
	if (fs == NULL)
		return;
	nprof__fd_snap_free(&fs->s);
	nprof__arena_free(fs->g);
	nprof__arena_free(fs);
}

/* debug>0 lists every descriptor with its target: the listing keeps them. */
static int fd_collect(const void *self, int debug, void **snap)
{
	(void)self;
	*snap = NULL;
	struct fdsnap *fs = nprof__arena_alloc(sizeof *fs);
	if (fs == NULL)
		return -ENOMEM;
	int rc = nprof__fd_snap_take(&fs->s, debug > 0);
	if (rc < 0) {
		nprof__fd_snap_free(&fs->s);
		nprof__arena_free(fs);
		return rc;
	}
	fs->g = group_snap(&fs->s, &fs->ng);
	if (fs->g == NULL && fs->s.n > 0) {
		fd_release(self, fs);
		return -ENOMEM;
	}
	*snap = fs;
	return 0;
}

static int cmp_group_key(const void *a, const void *b)
{
	const struct group *x = a, *y = b;
	if (x->stack != y->stack)
		return x->stack < y->stack ? -1 : 1;
	return (x->kind > y->kind) - (x->kind < y->kind);
}

/*
 * seconds=N: counts now minus counts N seconds ago, per (stack, kind), as
 * Go's delta for count profiles (groups that shrank are negative; equal
 * ones are left out). Both lists sorted by key: one merge walk.
 */
static int fd_subtract(const void *self, void *now, const void *base)
{
	struct fdsnap *b = now;
	const struct fdsnap *a = base;
	(void)self;
	struct group *d = nprof__arena_alloc(sizeof *d * (a->ng + b->ng + 1));
	if (d == NULL)
		return -ENOMEM;
	if (a->ng)
		qsort(a->g, a->ng, sizeof *a->g, cmp_group_key);
	if (b->ng)
		qsort(b->g, b->ng, sizeof *b->g, cmp_group_key);
	size_t i = 0, j = 0, n = 0;
	while (i < a->ng || j < b->ng) {
		int c = i >= a->ng ? 1 : j >= b->ng ? -1 : cmp_group_key(&a->g[i], &b->g[j]);
		if (c < 0) {
			d[n] = a->g[i++];
			d[n++].count *= -1;
		} else if (c > 0) {
			d[n++] = b->g[j++];
		} else {
			if (b->g[j].count != a->g[i].count) {
				d[n] = b->g[j];
				d[n++].count -= a->g[i].count;
			}
			i++;
			j++;
		}
	}
	nprof__arena_free(b->g);
	b->g = d;
	b->ng = n;
	return 0;
}

static int fd_proto(const void *self, void *snap, int64_t t0, int64_t dur, struct nprof_buf *out)
{
	const struct fdsnap *fs = snap;
	(void)self;
	struct nprof_profile_desc d = {
		.sample_types = fd_types, .n_sample_types = 1,
		.period_type = {"fds", "count"}, .period = 1,
		.time_nanos = t0, .duration_nanos = dur,
	};
	struct nprof_pb *pb = nprof__pb_new(&d);
	if (pb == NULL)
		return -ENOMEM;
	int rc = 0;
	for (size_t i = 0; i < fs->ng && rc == 0; i++)
		rc = add_group(pb, fs->g[i].stack, fs->g[i].kind, fs->g[i].count);
	if (rc < 0) {
		nprof__pb_free(pb);
		return -ENOMEM;
	}
	return nprof__pb_finish(pb, out) < 0 ? -ENOMEM : 0;
}

static int fd_text(const void *self, void *snap, int debug, struct nprof_buf *b)
{
	struct fdsnap *fs = snap;
	struct snap *s = &fs->s;
	struct group *g = fs->g;
	size_t ng = fs->ng;
	(void)self;
	(void)debug;
	/* Per-kind totals in the header comment: what scripts and people
	 * look at first. */
	int64_t per_kind[K_COUNT] = {0};
	for (size_t i = 0; i < s->n; i++)
		per_kind[s->e[i].kind]++;
	nprof__buf_printf(b, "fd profile: total %zu\n", s->n);
	nprof__buf_printf(b, "# kinds:");
	for (int k = 0; k < K_COUNT; k++)
		if (per_kind[k] > 0)
			nprof__buf_printf(b, " %s=%" PRId64, nprof__fd_kind_names[k], per_kind[k]);
	nprof__buf_printf(b, "\n");
	if (ng > 0)
		qsort(g, ng, sizeof *g, cmp_group_count);
	struct nprof_symtab *st = nprof__sym_open();
	int64_t now = nprof__fd_coarse_ns();
	for (size_t i = 0; i < ng; i++) {
		uintptr_t synth;
		int n;
		const uintptr_t *pcs = group_pcs(g[i].stack, &n, &synth);
		nprof__buf_printf(b, "%" PRId64 " @", g[i].count);
		for (int k = 0; k < n; k++)
			nprof__buf_printf(b, " %#" PRIxPTR, pcs[k]);
		nprof__buf_printf(b, "\n# labels: {\"kind\":\"%s\"%s}\n", nprof__fd_kind_names[g[i].kind],
				  g[i].stack == 0 ? ",\"origin\":\"unknown\"" : "");
		if (g[i].stack == 0)
			nprof__buf_printf(b, "#\tunknown origin: open before nprof started, or created by "
					  "a call nprof does not intercept\n");
		else
			nprof__frames_print_text(b, st, pcs, n);
		for (size_t j = g[i].first; j < s->n && s->e[j].stack == g[i].stack &&
		     s->e[j].kind == g[i].kind; j++) {
			const struct fd_ent *e = &s->e[j];
			const char *t = s->targets.data ? s->targets.data + e->target : "";
			nprof__buf_printf(b, "#\tfd %d\t%s\t%s", e->fd, nprof__fd_kind_names[e->kind], t);
			if (e->unknown)
				nprof__buf_printf(b, "\tage ?\n");
			else
				nprof__buf_printf(b, "\tage %.1fs\tby %s\n",
						  (double)(now - e->born) / 1e9,
						  e->op < NPROF_FD_OP_COUNT && nprof__fd_op_names[e->op] ?
						  nprof__fd_op_names[e->op] : "?");
		}
		nprof__buf_printf(b, "\n");
	}
	nprof__sym_close(st);
	/* Listed so that a reader comparing with /proc/PID/fd can account
	 * for every descriptor of the process. Listed again now rather than
	 * taken from the snapshot: symbolizing may have opened more (libdw
	 * keeps the ELF files it reads open). */
	nprof__buf_printf(b, "# nprof's own descriptors, not counted:");
	DIR *d = opendir("/proc/self/fd");
	if (d != NULL) {
		struct dirent *de;
		while ((de = readdir(d)) != NULL) {
			int fd = atoi(de->d_name);
			if (de->d_name[0] >= '0' && de->d_name[0] <= '9' && fd != dirfd(d) &&
			    nprof__fd_is_internal_sigsafe(fd))
				nprof__buf_printf(b, " %d", fd);
		}
		closedir(d);
	}
	nprof__buf_printf(b, "\n");
	long dropped = nprof__fd_dropped();
	if (dropped > 0)
		nprof__buf_printf(b, "# records lost (nprof memory full): %ld\n", dropped);
	return 0;
}

static const struct nprof_profile_ops fd_ops = {
	"fd", NULL, NULL, fd_collect, fd_subtract, fd_text, fd_proto, fd_release,
};

void nprof__fd_handle(const struct nprof_req *req, struct nprof_reply *rep)
{
	nprof__profile_serve(&fd_ops, req, rep);
}

long nprof__fd_count(void)
{
	int guard = nprof__guard;
	nprof__guard = 1;
	long n = 0;
	DIR *d = opendir("/proc/self/fd");
	if (d != NULL) {
		int dfd = dirfd(d);
		struct dirent *de;
		while ((de = readdir(d)) != NULL) {
			if (de->d_name[0] < '0' || de->d_name[0] > '9')
				continue;
			int fd = atoi(de->d_name);
			if (fd != dfd && !nprof__fd_is_internal_sigsafe(fd))
				n++;
		}
		closedir(d);
	}
	nprof__guard = guard;
	return n;
}


/*
 * For /metrics (metrics.c): the program's open descriptors by kind, from
 * the same reconciled listing as the profile (nprof's own excluded), so
 * that the sum equals the profile's total. Stores the kind names and
 * counts of every kind, zero counts included (a series that disappears
 * at zero would break rate() and alerts), and returns how many kinds
 * (at most `max`), or a negative errno when /proc/self/fd cannot be read.
 */
int nprof__fd_count_by_kind(const char **names, long *counts, int max)
{
	int guard = nprof__guard;
	nprof__guard = 1;
	struct snap s;
	int rc = nprof__fd_snap_take(&s, 0);
	int n = max < K_COUNT ? max : K_COUNT;
	for (int k = 0; k < n; k++) {
		names[k] = nprof__fd_kind_names[k];
		counts[k] = 0;
	}
	for (size_t i = 0; rc == 0 && i < s.n; i++)
		if (s.e[i].kind < n)
			counts[s.e[i].kind]++;
	nprof__fd_snap_free(&s);
	nprof__guard = guard;
	return rc < 0 ? rc : n;
}

/*
 * For the leak snapshots (leaks.c): calls fn(ctx, stack, kind, count) for
 * every (creating stack, kind) group of the program's open descriptors,
 * reconciled with /proc/self/fd exactly as the fd profile; stack 0 is
 * "unknown origin". `kind` is one of the profile's kind names (static
 * strings). Returns 0 or a negative errno (nothing reported then). Not for
 * signal handlers.
 */
int nprof__fd_each_group(void (*fn)(void *ctx, uint32_t stack, const char *kind,
				    int64_t count), void *ctx)
{
	int guard = nprof__guard;
	nprof__guard = 1;
	struct snap s;
	size_t ng = 0;
	int rc = nprof__fd_snap_take(&s, 0);
	struct group *g = rc == 0 ? group_snap(&s, &ng) : NULL;
	if (rc == 0 && g == NULL && s.n > 0)
		rc = -ENOMEM;
	for (size_t i = 0; i < ng; i++)
		fn(ctx, g[i].stack, nprof__fd_kind_names[g[i].kind], g[i].count);
	nprof__arena_free(g);
	nprof__fd_snap_free(&s);
	nprof__guard = guard;
	return rc;
}
