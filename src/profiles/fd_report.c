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

static struct nprof_pb *new_builder(int64_t duration_ns)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	struct nprof_profile_desc d = {
		.sample_types = fd_types, .n_sample_types = 1,
		.period_type = {"fds", "count"}, .period = 1,
		.time_nanos = (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec,
		.duration_nanos = duration_ns,
	};
	return nprof__pb_new(&d);
}

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

static void finish(struct nprof_pb *pb, int rc, struct nprof_reply *rep)
{
	if (rc < 0 || nprof__pb_finish(pb, &rep->body) < 0) {
		if (rc < 0)
			nprof__pb_free(pb);
		nprof__buf_free(&rep->body);
		nprof__reply_error(rep, 503, "nprof: out of memory building the fd profile");
		return;
	}
	rep->content_type = "application/octet-stream";
	rep->attachment = "fd";
}

static void reply_proto(struct snap *s, struct nprof_reply *rep)
{
	size_t ng;
	struct group *g = group_snap(s, &ng);
	struct nprof_pb *pb = new_builder(0);
	if (pb == NULL || (g == NULL && s->n > 0)) {
		nprof__arena_free(g);
		nprof__pb_free(pb);
		nprof__reply_error(rep, 503, "nprof: out of memory building the fd profile");
		return;
	}
	int rc = 0;
	for (size_t i = 0; i < ng && rc == 0; i++)
		rc = add_group(pb, g[i].stack, g[i].kind, g[i].count);
	nprof__arena_free(g);
	finish(pb, rc, rep);
}

/* "#\t0xPC\tfunc+0xOFF\tfile:line" lines of one stack, as Go prints them. */
static void print_stack(struct nprof_buf *b, struct nprof_symtab *st, const uintptr_t *pcs, int n)
{
	struct nprof_frame fr[32];
	for (int i = 0; i < n; i++) {
		uintptr_t pc = pcs[i] - 1;
		int nf = st ? nprof__sym_lookup(st, pc, fr, 32) : 0;
		if (nf <= 0) {
			const struct nprof_mapping *m = st ? nprof__sym_mapping(st, pc) : NULL;
			if (m != NULL && m->file != NULL && m->file[0] != '\0')
				nprof__buf_printf(b, "#\t%#" PRIxPTR "\t%s+%#" PRIxPTR "\n", pc, m->file,
						  (uintptr_t)(pc - m->start + m->offset));
			else
				nprof__buf_printf(b, "#\t%#" PRIxPTR "\n", pc);
			continue;
		}
		for (int k = 0; k < nf; k++)
			nprof__buf_printf(b, "#\t%#" PRIxPTR "\t%s+%#" PRIxPTR "\t%s:%d\n", pc,
					  fr[k].function[0] ? fr[k].function : "?", fr[k].symoff,
					  fr[k].file[0] ? fr[k].file : "?", fr[k].line);
	}
}

static void reply_text(struct snap *s, struct nprof_reply *rep)
{
	struct nprof_buf *b = &rep->body;
	size_t ng;
	struct group *g = group_snap(s, &ng);
	if (g == NULL && s->n > 0) {
		nprof__reply_error(rep, 503, "nprof: out of memory building the fd profile");
		return;
	}
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
			print_stack(b, st, pcs, n);
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
	nprof__arena_free(g);
}

/* Snapshot groups as (stack, kind) -> count, for deltas. */
struct counts {
	struct group *g;
	size_t n;
};

static int cmp_group_key(const void *a, const void *b)
{
	const struct group *x = a, *y = b;
	if (x->stack != y->stack)
		return x->stack < y->stack ? -1 : 1;
	return (x->kind > y->kind) - (x->kind < y->kind);
}

static int take_counts(struct counts *c)
{
	struct snap s;
	int rc = nprof__fd_snap_take(&s, 0);
	if (rc < 0) {
		nprof__fd_snap_free(&s);
		return rc;
	}
	c->g = group_snap(&s, &c->n);
	int fail = c->g == NULL && s.n > 0;
	nprof__fd_snap_free(&s);
	return fail ? -ENOMEM : 0;
}

/*
 * seconds=N: counts now minus counts N seconds ago, per (stack, kind), as
 * Go's delta for count profiles (groups that shrank are negative; equal
 * ones are left out).
 */
static void reply_delta(const struct nprof_req *req, struct nprof_reply *rep)
{
	struct counts a = {0}, b = {0};
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	if (take_counts(&a) < 0)
		goto oom;
	if (nprof__profile_wait(req, rep, (int64_t)t0.tv_sec * 1000000000LL + t0.tv_nsec) < 0) {
		nprof__arena_free(a.g);
		return;
	}
	if (take_counts(&b) < 0)
		goto oom;
	clock_gettime(CLOCK_MONOTONIC, &t1);
	struct nprof_pb *pb = new_builder((int64_t)(t1.tv_sec - t0.tv_sec) * 1000000000LL +
					  (t1.tv_nsec - t0.tv_nsec));
	if (pb == NULL)
		goto oom;
	/* Both lists sorted by key: one merge walk. */
	if (a.n)
		qsort(a.g, a.n, sizeof *a.g, cmp_group_key);
	if (b.n)
		qsort(b.g, b.n, sizeof *b.g, cmp_group_key);
	int rc = 0;
	size_t i = 0, j = 0;
	while (rc == 0 && (i < a.n || j < b.n)) {
		int c = i >= a.n ? 1 : j >= b.n ? -1 : cmp_group_key(&a.g[i], &b.g[j]);
		if (c < 0) {
			rc = add_group(pb, a.g[i].stack, a.g[i].kind, -a.g[i].count);
			i++;
		} else if (c > 0) {
			rc = add_group(pb, b.g[j].stack, b.g[j].kind, b.g[j].count);
			j++;
		} else {
			if (b.g[j].count != a.g[i].count)
				rc = add_group(pb, b.g[j].stack, b.g[j].kind,
					       b.g[j].count - a.g[i].count);
			i++;
			j++;
		}
	}
	nprof__arena_free(a.g);
	nprof__arena_free(b.g);
	finish(pb, rc, rep);
	return;
oom:
	nprof__arena_free(a.g);
	nprof__arena_free(b.g);
	nprof__reply_error(rep, 503, "nprof: out of memory building the fd profile");
}

void nprof__fd_handle(const struct nprof_req *req, struct nprof_reply *rep)
{
	int guard = nprof__guard;
	nprof__guard = 1;
	if (req->seconds > 0) {
		/* debug>0 with seconds was refused before (NPROF_SECONDS_DELTA). */
		reply_delta(req, rep);
		nprof__guard = guard;
		return;
	}
	struct snap s;
	int rc = nprof__fd_snap_take(&s, req->debug > 0);
	if (rc < 0)
		nprof__reply_error(rep, 503, "nprof: cannot list /proc/self/fd: %s", strerror(-rc));
	else if (req->debug > 0)
		reply_text(&s, rep);
	else
		reply_proto(&s, rep);
	nprof__fd_snap_free(&s);
	nprof__guard = guard;
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
