/*
 * threads_report.c - what the thread profiles look like: the
 * /debug/pprof/goroutine handler (debug=0 proto, debug=1 Go's grouped
 * text, debug=2 one block per thread, which the NPROF_DUMP_SIGNAL dump of
 * threads_signal.c also writes) and /debug/pprof/threadcreate. The data comes from
 * nprof__threads_collect (threads_collect.c) and the registry
 * (threads.c); formats and notations are in docs/internals/threads.md.
 *
 * Symbolization: each request opens one symbolizer session and caches
 * addresses (struct symc), since ten thousand threads share a few dozen.
 *
 * Signals: nothing here runs in a signal handler. Locking: none of its
 * own; handlers run on HTTP threads, several at once (collections
 * serialize inside threads_collect.c).
 */
#include "arena.h"
#include "base.h"
#include "buf.h"
#include "pprof.h"
#include "procmaps.h"
#include "profile.h"
#include "stacks.h"
#include "symbolize.h"
#include "threads.h"
#include "threads_int.h"
#include "threads_report.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ---------------------------------------------------------------- */
/* Text output                                                       */
/* ---------------------------------------------------------------- */

/* Symbolization with a per-request cache of addresses. */
#define SYMC_SLOTS 8192
#define SYMC_FRAMES 8
struct symc_ent {
	uintptr_t pc;                 /* the address looked up (return address - 1) */
	int n;
	struct nprof_frame f[SYMC_FRAMES];
};
struct symc {
	struct nprof_symtab *st;
	struct symc_ent *tab;
	size_t used;
};

static void symc_open(struct symc *c)
{
	c->st = nprof__sym_open();
	c->tab = nprof__arena_alloc(sizeof *c->tab * SYMC_SLOTS);
	c->used = 0;
}

static void symc_close(struct symc *c)
{
	if (c->st != NULL)
		nprof__sym_close(c->st);
	nprof__arena_free(c->tab);
}

/* The frames at `addr` (innermost inlined first); count, 0 unknown. */
static int symc_lookup(struct symc *c, uintptr_t addr, const struct nprof_frame **out)
{
	static NPROF_TLS struct nprof_frame tmp[SYMC_FRAMES];
	if (c->st == NULL)
		return 0;
	if (c->tab == NULL || c->used >= SYMC_SLOTS / 2) {
		int n = nprof__sym_lookup(c->st, addr, tmp, SYMC_FRAMES);
		*out = tmp;
		return n;
	}
	size_t i = (size_t)((addr * 0x9e3779b97f4a7c15ULL) >> 51) & (SYMC_SLOTS - 1);
	while (c->tab[i].pc != 0 && c->tab[i].pc != addr)
		i = (i + 1) & (SYMC_SLOTS - 1);
	if (c->tab[i].pc == 0) {
		c->tab[i].pc = addr;
		c->tab[i].n = nprof__sym_lookup(c->st, addr, c->tab[i].f, SYMC_FRAMES);
		c->used++;
	}
	*out = c->tab[i].f;
	return c->tab[i].n;
}

static void fmt_duration(char *out, size_t cap, int64_t ns)
{
	int64_t s = ns < 0 ? 0 : ns / 1000000000LL;
	if (s >= 60)
		snprintf(out, cap, "%" PRId64 " minute%s", s / 60, s / 60 == 1 ? "" : "s");
	else
		snprintf(out, cap, "%" PRId64 " second%s", s, s == 1 ? "" : "s");
}

/* "[reason, 3 minutes]" / "[poll, ≥2 minutes (seen since)]" / "[running]". */
static void fmt_wait(const struct nprof_thread_info *ti, char *out, size_t cap)
{
	char d[48];
	const char *w = ti->wait != NULL && ti->wait[0] != '\0' ? ti->wait : "unknown";
	switch (ti->wait_kind) {
	case NPROF_WAITK_EXACT:
		fmt_duration(d, sizeof d, ti->wait_ns);
		snprintf(out, cap, "%s, %s", w, d);
		break;
	case NPROF_WAITK_SEEN_SINCE:
		fmt_duration(d, sizeof d, ti->wait_ns);
		snprintf(out, cap, "%s, \xe2\x89\xa5%s (seen since)", w, d);
		break;
	default:
		snprintf(out, cap, "%s", w);
	}
}

/* Why a thread has no (complete) stack, for the text forms. */
static const char *stack_note(int flags)
{
	if (flags & NPROF_TI_NOSTACK_RUNNING)
		return "stack not captured: the thread was running";
	if (flags & NPROF_TI_NOSTACK_TIME)
		return "stack not captured: dump time limit reached";
	if (flags & NPROF_TI_NOSTACK_OTHER)
		return "stack not captured: not blocked in a system call";
	if (flags & NPROF_TI_TORN)
		return "stack possibly torn: the thread moved while it was read";
	if (flags & NPROF_TI_TRUNCATED)
		return "stack truncated: no unwind information beyond this frame";
	return NULL;
}

/* One frame group of debug=2: "func(...)\n\tfile:line +0xoff\n". */
static void put_frames2(struct nprof_buf *b, struct symc *c, uintptr_t pc)
{
	const struct nprof_frame *f;
	int n = symc_lookup(c, pc - 1, &f);
	if (n == 0) {
		nprof__buf_printf(b, "0x%" PRIxPTR "(...)\n\t?\n", pc);
		return;
	}
	for (int i = 0; i < n; i++) {
		const char *fn = f[i].function[0] ? f[i].function : "??";
		size_t len = strlen(fn);
		/* Go's "func(...)"; a demangled C++ name has its parameter list
		 * already ("mysqld_main(int, char**)"), and module+0xOFF none. */
		const char *args = (len > 0 && fn[len - 1] == ')') || fn[0] == '[' ||
				   strstr(fn, "+0x") ? "" : "(...)";
		nprof__buf_printf(b, "%s%s\n\t%s", fn, args, f[i].file[0] ? f[i].file : "?");
		if (f[i].line > 0)
			nprof__buf_printf(b, ":%d", f[i].line);
		if (i == n - 1)
			nprof__buf_printf(b, " +0x%" PRIxPTR, f[i].symoff);
		nprof__buf_putc(b, '\n');
	}
}

static void put_notes(struct nprof_buf *b, const struct nprof_thread_set *s)
{
	if (s->exited)
		nprof__buf_printf(b, "# nprof: %zu thread(s) exited during the dump and are not listed\n",
				  s->exited);
	if (s->no_stack)
		nprof__buf_printf(b, "# nprof: %zu thread(s) listed without a stack (see each one)\n",
				  s->no_stack);
	if (s->torn)
		nprof__buf_printf(b, "# nprof: %zu stack(s) possibly torn (the thread moved while read)\n",
				  s->torn);
	nprof__buf_printf(b, "# nprof: %zu threads collected in %.1f ms", s->n,
			  (double)s->elapsed_ns / 1e6);
	if (s->readers > 1)
		nprof__buf_printf(b, " (/proc read by %d threads)", s->readers);
	nprof__buf_putc(b, '\n');
	if (s->unwinder_missing)
		nprof__buf_printf(b, "# nprof: no unwind information available; stacks hold the "
				  "blocked call only\n");
}

/* True for an address in a system library (the C and C++ runtimes):
 * std::thread and other wrappers call pthread_create from there, and
 * "created by std::thread::_M_start_thread" would say nothing. */
static int in_system_lib(struct symc *c, uintptr_t addr)
{
	const struct nprof_mapping *m = c->st ? nprof__sym_mapping(c->st, addr) : NULL;
	return m != NULL && (strncmp(m->file, "/lib/", 5) == 0 || strncmp(m->file, "/usr/lib/", 9) == 0 ||
			     strncmp(m->file, "/lib64/", 7) == 0);
}

/*
 * "created by FUNC in thread TID" and its location, as Go prints it, for
 * the innermost frame of the creating stack outside the system libraries
 * (an inlined helper if pthread_create was called from one); then, since C
 * programs often wrap pthread_create, up to three further callers outside
 * the system libraries as "\tfrom FUNC at file:line".
 */
static void put_created_by(struct nprof_buf *b, struct symc *c, pid_t creator,
			   const uintptr_t *pcs, int n)
{
	int k = 0;
	while (k < n - 1 && in_system_lib(c, pcs[k] - 1))
		k++;
	const struct nprof_frame *f;
	int fn = symc_lookup(c, pcs[k] - 1, &f);
	nprof__buf_printf(b, "created by %s in thread %d\n",
			  fn > 0 && f[0].function[0] ? f[0].function : "??", (int)creator);
	if (fn == 0) {
		nprof__buf_printf(b, "\t0x%" PRIxPTR "\n", pcs[k]);
		return;
	}
	nprof__buf_printf(b, "\t%s:%d +0x%" PRIxPTR "\n", f[0].file[0] ? f[0].file : "?",
			  f[0].line, f[fn - 1].symoff);
	int shown = 0, i = 1;
	for (int first = k; k < n && shown < 3; k++, i = 0) {
		if (k > first) {
			if (in_system_lib(c, pcs[k] - 1))
				break;      /* the C runtime's start-up frames */
			fn = symc_lookup(c, pcs[k] - 1, &f);
		}
		for (; i < fn && shown < 3; i++, shown++)
			nprof__buf_printf(b, "\tfrom %s at %s:%d\n",
					  f[i].function[0] ? f[i].function : "??",
					  f[i].file[0] ? f[i].file : "?", f[i].line);
	}
}

/*
 * The debug=2 text of each distinct stack and of each distinct "created
 * by" (creator stack, creator thread), rendered once per request and then
 * copied: ten thousand threads parked in a few places share a handful of
 * stacks, and formatting their frames again for each thread was most of
 * the time after the collection. Open addressing; when the table is half
 * full, further texts are rendered directly.
 */
#define TXT_SLOTS 4096
struct txt_ent {
	uint32_t stack;
	int32_t tid;          /* creator thread for KIND_CREATED; 0 for frames */
	int kind;             /* 0: empty slot */
	size_t off, len;      /* in txtc.text */
};
enum { KIND_FRAMES = 1, KIND_CREATED };
struct txtc {
	struct txt_ent *tab;
	size_t used;
	struct nprof_buf text;
};

static void render_frames(struct nprof_buf *b, struct symc *c, uint32_t stack)
{
	int n = 0;
	const uintptr_t *pcs = nprof__stack_get(stack, &n);
	for (int k = 0; k < n; k++)
		put_frames2(b, c, pcs[k]);
}

static void render_created(struct nprof_buf *b, struct symc *c, uint32_t stack, pid_t tid)
{
	int cn = 0;
	const uintptr_t *cpcs = nprof__stack_get(stack, &cn);
	if (cn > 0)
		put_created_by(b, c, tid, cpcs, cn);
}

/* Appends the text of (kind, stack, tid) to b, rendering it on first use. */
static void put_text(struct nprof_buf *b, struct txtc *t, struct symc *c, int kind, uint32_t stack,
		     pid_t tid)
{
	if (t->tab == NULL || t->used >= TXT_SLOTS / 2 || t->text.failed) {
		if (kind == KIND_FRAMES)
			render_frames(b, c, stack);
		else
			render_created(b, c, stack, tid);
		return;
	}
	uint64_t h = ((uint64_t)stack * 0x9e3779b97f4a7c15ULL) ^ ((uint64_t)(uint32_t)tid << 1) ^ (uint64_t)kind;
	size_t i = (size_t)((h * 0x9e3779b97f4a7c15ULL) >> 52) & (TXT_SLOTS - 1);
	while (t->tab[i].kind != 0 &&
	       (t->tab[i].kind != kind || t->tab[i].stack != stack || t->tab[i].tid != (int32_t)tid))
		i = (i + 1) & (TXT_SLOTS - 1);
	struct txt_ent *e = &t->tab[i];
	if (e->kind == 0) {
		size_t off = t->text.len;
		if (kind == KIND_FRAMES)
			render_frames(&t->text, c, stack);
		else
			render_created(&t->text, c, stack, tid);
		if (t->text.failed) {
			t->text.len = off;
			if (kind == KIND_FRAMES)
				render_frames(b, c, stack);
			else
				render_created(b, c, stack, tid);
			return;
		}
		*e = (struct txt_ent){stack, (int32_t)tid, kind, off, t->text.len - off};
		t->used++;
	}
	nprof__buf_append(b, t->text.data + e->off, e->len);
}

/*
 * The bracketed wait of a thread ("pthread_cond_wait, 3 seconds"), which
 * depends only on the wait's text, kind and whole seconds: remembered from
 * the thread before, since thousands of threads parked alike in one dump
 * share it (two snprintf calls each were a third of the text's time).
 */
struct wait_memo {
	char wait[48];        /* the text fmt_wait used; "" none yet */
	int kind;
	int64_t secs;
	char out[96];
	size_t len;
};

static const char *memo_wait(struct wait_memo *m, const struct nprof_thread_info *ti, size_t *len)
{
	const char *w = ti->wait != NULL && ti->wait[0] != '\0' ? ti->wait : "unknown";
	int64_t secs = ti->wait_kind == NPROF_WAITK_EXACT || ti->wait_kind == NPROF_WAITK_SEEN_SINCE ?
		       (ti->wait_ns < 0 ? 0 : ti->wait_ns / 1000000000LL) : 0;
	size_t wl = strlen(w);
	if (m->wait[0] == '\0' || m->kind != ti->wait_kind || m->secs != secs ||
	    wl >= sizeof m->wait || strcmp(m->wait, w) != 0) {
		fmt_wait(ti, m->out, sizeof m->out);
		m->len = strlen(m->out);
		if (wl < sizeof m->wait) {
			memcpy(m->wait, w, wl + 1);
			m->kind = ti->wait_kind;
			m->secs = secs;
		} else {
			m->wait[0] = '\0';
		}
	}
	*len = m->len;
	return m->out;
}

/* Appends "thread TID \"NAME\" [WAIT]:\n" as one piece, the number and the
 * name copied by hand rather than through printf and a call per byte. */
static void put_header2(struct nprof_buf *b, const struct nprof_thread_info *ti, const char *w,
			size_t wlen)
{
	char line[32 + sizeof ti->name + 96];
	char digits[24];
	size_t o = 0, nd = 0;
	long long v = ti->tid;
	unsigned long long u = v < 0 ? 0ULL - (unsigned long long)v : (unsigned long long)v;
	memcpy(line, "thread ", 7);
	o = 7;
	if (v < 0)
		line[o++] = '-';
	do
		digits[nd++] = (char)('0' + u % 10);
	while ((u /= 10) != 0);
	while (nd > 0)
		line[o++] = digits[--nd];
	line[o++] = ' ';
	line[o++] = '"';
	for (size_t i = 0; i < sizeof ti->name && ti->name[i] != '\0'; i++) {
		char c = ti->name[i];
		line[o++] = c == '"' || c == '\\' || (unsigned char)c < 32 ? '?' : c;
	}
	line[o++] = '"';
	line[o++] = ' ';
	line[o++] = '[';
	memcpy(line + o, w, wlen);
	o += wlen;
	memcpy(line + o, "]:\n", 3);
	o += 3;
	nprof__buf_append(b, line, o);
}

/* debug=2: one block per thread, as Go's full goroutine dump. */
void nprof__threads_write_debug2(struct nprof_buf *b, const struct nprof_thread_set *s)
{
	struct symc c;
	symc_open(&c);
	struct wait_memo memo = {.wait = ""};
	struct txtc t = {.tab = nprof__arena_alloc(sizeof *t.tab * TXT_SLOTS)};
	if (t.tab != NULL)
		memset(t.tab, 0, sizeof *t.tab * TXT_SLOTS);
	for (size_t i = 0; i < s->n; i++) {
		const struct nprof_thread_info *ti = &s->t[i];
		size_t wlen;
		const char *w = memo_wait(&memo, ti, &wlen);
		put_header2(b, ti, w, wlen);
		if (ti->stack != 0)
			put_text(b, &t, &c, KIND_FRAMES, ti->stack, 0);
		const char *note = stack_note(ti->flags);
		if (note != NULL)
			nprof__buf_printf(b, "\t(%s)\n", note);
		int cn = 0;
		nprof__stack_get(ti->creator_stack, &cn);
		if (cn > 0) {
			put_text(b, &t, &c, KIND_CREATED, ti->creator_stack, ti->creator_tid);
		} else if (!ti->is_main && !ti->known_creator) {
			nprof__buf_printf(b, "created by ? (before nprof started, or not through "
					  "pthread_create)\n");
		}
		nprof__buf_putc(b, '\n');
	}
	nprof__buf_free(&t.text);
	nprof__arena_free(t.tab);
	symc_close(&c);
	put_notes(b, s);
}

/* Groups for debug=1 and the proto. */
struct group {
	uint32_t stack;
	const char *wait;        /* the reason (no duration) */
	const char *name;        /* thread name, or NULL when not part of the key */
	int flags;               /* a stack note of a member, for the text */
	int64_t count;
};

static int cmp_group(const void *a, const void *b)
{
	const struct group *x = a, *y = b;
	if (x->count != y->count)
		return x->count > y->count ? -1 : 1;
	return (x->stack > y->stack) - (x->stack < y->stack);
}

/* Groups the threads by (stack, wait reason[, name]). Arena array. */
/*
 * Groups the threads of `nsets` collections by (stack, wait reason[,
 * name]), each thread counting `signs[k]` (1, or -1 for the base of a
 * delta). Groups that sum to zero are dropped. Arena array, largest
 * first, in *out; NULL when out of memory.
 */
static size_t make_groups(const struct nprof_thread_set *sets, const int *signs, int nsets,
			  int by_name, struct group **out)
{
	size_t total = 0;
	for (int k = 0; k < nsets; k++)
		total += sets[k].n;
	size_t cap = 16;
	while (cap < total * 2 + 2)
		cap *= 2;
	struct group *tab = nprof__arena_alloc(sizeof *tab * cap);
	unsigned char *used = nprof__arena_alloc(cap);
	struct group *g = nprof__arena_alloc(sizeof *g * (total + 1));
	size_t ng = 0;
	if (tab == NULL || used == NULL || g == NULL) {
		nprof__arena_free(tab);
		nprof__arena_free(used);
		nprof__arena_free(g);
		*out = NULL;
		return 0;
	}
	for (int k = 0; k < nsets; k++) {
		for (size_t i = 0; i < sets[k].n; i++) {
			const struct nprof_thread_info *ti = &sets[k].t[i];
			const char *w = ti->wait ? ti->wait : "";
			const char *nm = by_name ? ti->name : NULL;
			uint64_t h = ti->stack * 0x9e3779b97f4a7c15ULL;
			for (const char *p = w; *p; p++)
				h = (h ^ (unsigned char)*p) * 0x100000001b3ULL;
			for (const char *p = nm; p && *p; p++)
				h = (h ^ (unsigned char)*p) * 0x100000001b3ULL;
			size_t j = (size_t)(h >> 20) & (cap - 1);
			for (;; j = (j + 1) & (cap - 1)) {
				if (!used[j]) {
					used[j] = 1;
					tab[j] = (struct group){ti->stack, w, nm, ti->flags, 0};
					break;
				}
				if (tab[j].stack == ti->stack && strcmp(tab[j].wait, w) == 0 &&
				    (!by_name || strcmp(tab[j].name, nm) == 0))
					break;
			}
			tab[j].count += signs[k];
		}
	}
	for (size_t j = 0; j < cap; j++)
		if (used[j] && tab[j].count != 0)
			g[ng++] = tab[j];
	nprof__arena_free(tab);
	nprof__arena_free(used);
	qsort(g, ng, sizeof *g, cmp_group);
	*out = g;
	return ng;
}

/* The "#\t0xPC\tfunc+0xOFF\tfile:line" lines of one stack, as Go's
 * printStackRecord. */
static void put_stack1(struct nprof_buf *b, struct symc *c, const uintptr_t *pcs, int n)
{
	for (int k = 0; k < n; k++) {
		const struct nprof_frame *f;
		uintptr_t addr = pcs[k] - 1;
		int fn = symc_lookup(c, addr, &f);
		if (fn == 0) {
			nprof__buf_printf(b, "#\t0x%" PRIxPTR "\n", addr);
			continue;
		}
		for (int i = 0; i < fn; i++)
			nprof__buf_printf(b, "#\t0x%" PRIxPTR "\t%s+0x%" PRIxPTR "\t%s:%d\n", addr,
					  f[i].function[0] ? f[i].function : "??",
					  f[fn - 1].symoff, f[i].file[0] ? f[i].file : "?", f[i].line);
	}
}

static void write_debug1(struct nprof_buf *b, const struct nprof_thread_set *s)
{
	struct group *g;
	static const int plus[1] = {1};
	size_t ng = make_groups(s, plus, 1, 0, &g);
	struct symc c;
	symc_open(&c);
	nprof__buf_printf(b, "goroutine profile: total %zu\n", s->n);
	for (size_t i = 0; i < ng; i++) {
		int n = 0;
		const uintptr_t *pcs = nprof__stack_get(g[i].stack, &n);
		nprof__buf_printf(b, "%" PRId64 " @", g[i].count);
		for (int k = 0; k < n; k++)
			nprof__buf_printf(b, " 0x%" PRIxPTR, pcs[k]);
		nprof__buf_printf(b, "\n# labels: {\"wait\":");
		nprof__buf_json_str(b, g[i].wait);
		nprof__buf_printf(b, "}\n");
		put_stack1(b, &c, pcs, n);
		if (n == 0) {
			const char *note = stack_note(g[i].flags);
			nprof__buf_printf(b, "#\t(%s)\n", note ? note : "no stack");
		}
		nprof__buf_putc(b, '\n');
	}
	symc_close(&c);
	nprof__arena_free(g);
	put_notes(b, s);
}

/* ---------------------------------------------------------------- */
/* The goroutine and threadcreate profiles (profile.h's interface)   */
/* ---------------------------------------------------------------- */

/* A goroutine snapshot: one collection, and the groups of a delta. */
struct gsnap {
	struct nprof_thread_set s;
	struct group *g;        /* subtract: later minus base; NULL otherwise */
	size_t ng;
};

static void g_release(const void *self, void *snap)
{
	struct gsnap *gs = snap;
	(void)self;
	if (gs == NULL)
		return;
	nprof__threads_set_free(&gs->s);
	nprof__arena_free(gs->g);
	nprof__arena_free(gs);
}

static int g_collect(const void *self, int debug, void **snap)
{
	struct gsnap *gs = nprof__arena_alloc(sizeof *gs);
	(void)self;
	(void)debug;
	*snap = NULL;
	if (gs == NULL)
		return -ENOMEM;
	int rc = nprof__threads_collect(&gs->s, NPROF_COLLECT_STACKS | NPROF_COLLECT_SAMPLE);
	if (rc < 0) {
		nprof__arena_free(gs);
		return rc;
	}
	*snap = gs;
	return 0;
}

/* A delta, as Go's goroutine?seconds=N: every thread of the later
 * collection counts 1, every one of the base -1, per group. */
static int g_subtract(const void *self, void *now, const void *base)
{
	static const int delta[2] = {1, -1};
	struct gsnap *gs = now;
	const struct gsnap *b = base;
	struct nprof_thread_set sets[2] = {gs->s, b->s};
	(void)self;
	gs->ng = make_groups(sets, delta, 2, 1, &gs->g);
	return gs->g == NULL ? -ENOMEM : 0;
}

static int g_text(const void *self, void *snap, int debug, struct nprof_buf *b)
{
	struct gsnap *gs = snap;
	(void)self;
	if (debug == 1)
		write_debug1(b, &gs->s);
	else
		nprof__threads_write_debug2(b, &gs->s);
	return 0;
}

/*
 * The proto of one collection or of a delta (counts may then be
 * negative), one sample per (stack, wait reason, thread name).
 */
static int g_proto(const void *self, void *snap, int64_t t0, int64_t dur, struct nprof_buf *out)
{
	static const int plus[1] = {1};
	static const struct nprof_value_type types[] = {{"goroutine", "count"}};
	struct gsnap *gs = snap;
	const struct nprof_thread_set *s = &gs->s;
	char comment[160];
	(void)self;
	snprintf(comment, sizeof comment,
		 "nprof threads: %zu listed, %zu exited during the dump, %zu without stack, "
		 "%zu possibly torn", s->n, s->exited, s->no_stack, s->torn);
	struct nprof_profile_desc d = {
		.sample_types = types, .n_sample_types = 1,
		.period_type = {"goroutine", "count"}, .period = 1,
		.time_nanos = t0, .duration_nanos = dur, .comment = comment,
	};
	if (gs->g == NULL) {
		gs->ng = make_groups(s, plus, 1, 1, &gs->g);
		if (gs->g == NULL)
			return -ENOMEM;
	}
	struct nprof_pb *pb = nprof__pb_new(&d);
	if (pb == NULL)
		return -ENOMEM;
	int rc = 0;
	for (size_t i = 0; i < gs->ng && rc == 0; i++) {
		int n = 0;
		const uintptr_t *pcs = nprof__stack_get(gs->g[i].stack, &n);
		struct nprof_label l[2] = {
			{.key = "wait", .str = gs->g[i].wait},
			{.key = "thread", .str = gs->g[i].name},
		};
		int64_t v = gs->g[i].count;
		rc = nprof__pb_add(pb, pcs, n, &v, l, 2);
	}
	if (rc < 0) {
		nprof__pb_free(pb);
		return -ENOMEM;
	}
	return nprof__pb_finish(pb, out) < 0 ? -ENOMEM : 0;
}

static const struct nprof_profile_ops goroutine_ops = {
	"goroutine", "goroutine-delta", NULL, g_collect, g_subtract, g_text, g_proto, g_release,
};

void nprof__threads_handle(const struct nprof_req *req, struct nprof_reply *rep)
{
	nprof__profile_serve(&goroutine_ops, req, rep);
}

/* A threadcreate snapshot: creating stacks, largest count first. */
struct tcsnap {
	struct group *g;
	size_t n;
	int64_t total;
};

static void tc_release(const void *self, void *snap)
{
	struct tcsnap *tc = snap;
	(void)self;
	if (tc == NULL)
		return;
	nprof__arena_free(tc->g);
	nprof__arena_free(tc);
}

static int tc_collect(const void *self, int debug, void **snap)
{
	(void)self;
	(void)debug;
	*snap = NULL;
	struct tcsnap *tc = nprof__arena_alloc(sizeof *tc);
	if (tc == NULL)
		return -ENOMEM;
	/* A copy, so that symbolizing does not hold the registry lock. */
	struct nprof_tc_ent *copy = nprof__threadcreate_copy(&tc->n, &tc->total);
	if (copy == NULL) {
		nprof__arena_free(tc);
		return -ENOMEM;
	}
	tc->g = nprof__arena_alloc(sizeof *tc->g * (tc->n + 1));
	for (size_t i = 0; tc->g != NULL && i < tc->n; i++)
		tc->g[i] = (struct group){copy[i].stack, "", NULL, 0, copy[i].count};
	nprof__arena_free(copy);
	if (tc->g == NULL) {
		nprof__arena_free(tc);
		return -ENOMEM;
	}
	/* Largest first, as Go prints count profiles. */
	qsort(tc->g, tc->n, sizeof *tc->g, cmp_group);
	*snap = tc;
	return 0;
}

static int tc_text(const void *self, void *snap, int debug, struct nprof_buf *b)
{
	const struct tcsnap *tc = snap;
	struct symc c;
	(void)self;
	(void)debug;
	symc_open(&c);
	nprof__buf_printf(b, "threadcreate profile: total %" PRId64 "\n", tc->total);
	for (size_t i = 0; i < tc->n; i++) {
		int np = 0;
		const uintptr_t *pcs = nprof__stack_get(tc->g[i].stack, &np);
		nprof__buf_printf(b, "%" PRId64 " @", tc->g[i].count);
		for (int k = 0; k < np; k++)
			nprof__buf_printf(b, " 0x%" PRIxPTR, pcs[k]);
		nprof__buf_putc(b, '\n');
		put_stack1(b, &c, pcs, np);
		nprof__buf_putc(b, '\n');
	}
	symc_close(&c);
	return 0;
}

static int tc_proto(const void *self, void *snap, int64_t t0, int64_t dur, struct nprof_buf *out)
{
	static const struct nprof_value_type types[] = {{"threadcreate", "count"}};
	const struct tcsnap *tc = snap;
	(void)self;
	struct nprof_profile_desc d = {
		.sample_types = types, .n_sample_types = 1,
		.period_type = {"threadcreate", "count"}, .period = 1,
		.time_nanos = t0, .duration_nanos = dur,
	};
	struct nprof_pb *pb = nprof__pb_new(&d);
	int rc = pb == NULL ? -ENOMEM : 0;
	for (size_t i = 0; i < tc->n && rc == 0; i++) {
		int np = 0;
		const uintptr_t *pcs = nprof__stack_get(tc->g[i].stack, &np);
		rc = nprof__pb_add(pb, pcs, np, &tc->g[i].count, NULL, 0);
	}
	if (rc < 0) {
		nprof__pb_free(pb);
		return -ENOMEM;
	}
	return nprof__pb_finish(pb, out) < 0 ? -ENOMEM : 0;
}

static const struct nprof_profile_ops threadcreate_ops = {
	"threadcreate", NULL, NULL, tc_collect, NULL, tc_text, tc_proto, tc_release,
};

void nprof__threadcreate_handle(const struct nprof_req *req, struct nprof_reply *rep)
{
	nprof__profile_serve(&threadcreate_ops, req, rep);
}
