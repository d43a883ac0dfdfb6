/*
 * check.c - leak checks for test suites: what a program (or one test case)
 * created and never released. Three kinds: threads still running,
 * descriptors still open, heap blocks no longer reachable (reach.c).
 *
 * Two entry points share one engine, check_run():
 *   - at exit, when NPROF_CHECK names a directory (`nprof check` sets it):
 *     core.c's destructor calls nprof__check_at_exit() (through a pointer
 *     this file's constructor sets), which writes
 *     check.<pid>.txt and check.<pid>.json there. A forked child that
 *     exits through exit() writes its own, about what it created after
 *     the fork (nprof__check_postfork_child() keeps it recording);
 *   - nprof_check_begin() / nprof_check_end() (include/nprof.h), around
 *     one test case, as goleak's VerifyNone.
 *
 * A mark says what "created since" means: the heap generation
 * (heap_region_slab.c stamps every block), the descriptors open then (number,
 * birth time, stack: a number closed and reused later is new) and the
 * threads alive then (tids). The whole-process mark counts everything but
 * descriptors of unknown origin (inherited, or opened before nprof).
 *
 * Settings (environment): NPROF_CHECK=DIR, NPROF_CHECK_KINDS (a comma
 * list of threads, fds, heap, heap=all; default all three),
 * NPROF_CHECK_SUPPRESSIONS=FILE of `kind:glob` lines.
 *
 * Locking: one check at a time (check_lock). Runs on a program thread
 * with the hook guard raised: nprof's memory comes from the arena, the
 * scan's tables from mmap. Not async-signal-safe.
 */
#include "api.h"
#include "check_int.h"
#include "arena.h"
#include "base.h"
#include "buf.h"
#include "fd_int.h"
#include "frames.h"
#include "heap.h"
#include "heap_region.h"
#include "nprof.h"
#include "procmaps.h"
#include "reach.h"
#include "stacks.h"
#include "symbolize.h"
#include "threads.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>


/* Exiting threads get this long to finish before they count. */
#define GRACE_NS (250 * 1000000LL)

static pthread_mutex_t check_lock = PTHREAD_MUTEX_INITIALIZER;

/* ---------------------------------------------------------------- */
/* marks                                                             */
/* ---------------------------------------------------------------- */

struct fd_seen {
	int fd;
	uint32_t stack;
	int64_t born;
};

struct mark {
	int all;                /* the whole process: everything counts */
	int heap_ok;            /* every allocation recorded since the mark */
	uint16_t gen;           /* blocks of a later generation are new */
	struct fd_seen *fds;    /* arena; open at the mark */
	size_t nfds;
	pid_t *tids;            /* arena; alive at the mark */
	size_t ntids;
};

static void mark_free(struct mark *m)
{
	nprof__arena_free(m->fds);
	nprof__arena_free(m->tids);
	memset(m, 0, sizeof *m);
}

/* The tids of the process's threads (nprof's own excluded), arena. */
static pid_t *list_tids(size_t *n)
{
	*n = 0;
	int dfd = open("/proc/self/task", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return NULL;
	DIR *d = fdopendir(dfd);
	if (d == NULL) {
		close(dfd);
		return NULL;
	}
	size_t cap = 64;
	pid_t *t = nprof__arena_alloc(sizeof *t * cap);
	struct dirent *e;
	while (t != NULL && (e = readdir(d)) != NULL) {
		pid_t tid = (pid_t)atoi(e->d_name);
		if (tid <= 0 || nprof__thread_is_internal(tid))
			continue;
		if (*n == cap) {
			pid_t *g = nprof__arena_realloc(t, sizeof *t * cap * 2);
			if (g == NULL)
				break;
			t = g;
			cap *= 2;
		}
		t[(*n)++] = tid;
	}
	closedir(d);
	return t;
}

static int has_tid(const pid_t *t, size_t n, pid_t tid)
{
	for (size_t i = 0; i < n; i++)
		if (t[i] == tid)
			return 1;
	return 0;
}

static void mark_take(struct mark *m)
{
	memset(m, 0, sizeof *m);
	m->heap_ok = nprof__heap_rate == 1;
	m->gen = nprof__region_mark();
	struct snap s;
	if (nprof__fd_snap_take(&s, 0) == 0 && s.n > 0) {
		m->fds = nprof__arena_alloc(sizeof *m->fds * s.n);
		for (size_t i = 0; m->fds != NULL && i < s.n; i++)
			m->fds[m->nfds++] = (struct fd_seen){s.e[i].fd, s.e[i].stack, s.e[i].born};
	}
	nprof__fd_snap_free(&s);
	m->tids = list_tids(&m->ntids);
}

static int block_new(const struct mark *m, const struct nprof_region_block *b)
{
	if (m->all)
		return 1;
	uint16_t d = (uint16_t)(b->gen - m->gen);
	return d != 0 && d < 32768;
}

static int fd_new(const struct mark *m, const struct fd_ent *e)
{
	if (e->fd <= 2 || e->unknown)
		return 0;
	for (size_t i = 0; i < m->nfds; i++)
		if (m->fds[i].fd == e->fd && m->fds[i].stack == e->stack && m->fds[i].born == e->born)
			return 0;
	return 1;
}

/* ---------------------------------------------------------------- */
/* findings                                                          */
/* ---------------------------------------------------------------- */

static struct item *add_item(struct findings *f)
{
	if (f->n == f->cap) {
		size_t cap = f->cap ? f->cap * 2 : 64;
		struct item *g = nprof__arena_realloc(f->it, sizeof *g * cap);
		if (g == NULL)
			return NULL;
		f->it = g;
		f->cap = cap;
	}
	struct item *i = &f->it[f->n++];
	memset(i, 0, sizeof *i);
	return i;
}

static void collect_threads(struct findings *f, const struct mark *m, struct nprof_frames *c)
{
	/* Grace: threads that are on their way out get to finish. */
	int64_t deadline = nprof__mono_ns() + GRACE_NS;
	pid_t self = nprof__gettid();
	for (;;) {
		size_t n;
		pid_t *t = list_tids(&n);
		int extra = 0;
		for (size_t i = 0; t != NULL && i < n; i++)
			if (t[i] != self && t[i] != getpid() && (m->all || !has_tid(m->tids, m->ntids, t[i])))
				extra = 1;
		nprof__arena_free(t);
		if (!extra || nprof__mono_ns() >= deadline)
			break;
		struct timespec ts = {0, 5 * 1000000L};
		nanosleep(&ts, NULL);
	}
	struct nprof_thread_set set;
	if (nprof__threads_collect(&set, NPROF_COLLECT_STACKS | NPROF_COLLECT_SAMPLE) < 0)
		return;
	for (size_t i = 0; i < set.n; i++) {
		const struct nprof_thread_info *ti = &set.t[i];
		if (ti->is_main || (ti->flags & NPROF_TI_SELF) || ti->tid == self ||
		    (!m->all && has_tid(m->tids, m->ntids, ti->tid)))
			continue;
		if (nprof__check_supp_matches(c, S_THREAD, ti->creator_stack, ti->stack)) {
			f->suppressed[S_THREAD]++;
			continue;
		}
		f->counts[S_THREAD]++;
		struct item *g = NULL;
		for (size_t k = 0; k < f->n; k++)
			if (f->it[k].kind == S_THREAD && f->it[k].stack == ti->creator_stack &&
			    f->it[k].stack2 == ti->stack && strcmp(f->it[k].wait_buf, ti->wait ? ti->wait : "") == 0)
				g = &f->it[k];
		if (g == NULL && (g = add_item(f)) != NULL) {
			g->kind = S_THREAD;
			g->stack = ti->creator_stack;
			g->stack2 = ti->stack;
			snprintf(g->wait_buf, sizeof g->wait_buf, "%s", ti->wait ? ti->wait : "");
			snprintf(g->name, sizeof g->name, "%s", ti->name);
		}
		if (g == NULL)
			break;
		if (g->nids < 8)
			g->ids[g->nids++] = ti->tid;
		g->count++;
	}
	nprof__threads_set_free(&set);
}

static void collect_fds(struct findings *f, const struct mark *m, struct nprof_frames *c)
{
	struct snap s;
	if (nprof__fd_snap_take(&s, 1) < 0) {
		nprof__fd_snap_free(&s);
		return;
	}
	for (size_t i = 0; i < s.n; i++) {
		const struct fd_ent *e = &s.e[i];
		if (!fd_new(m, e))
			continue;
		if (nprof__check_supp_matches(c, S_FD, e->stack, 0)) {
			f->suppressed[S_FD]++;
			continue;
		}
		f->counts[S_FD]++;
		struct item *g = NULL;
		for (size_t k = 0; k < f->n; k++)
			if (f->it[k].kind == S_FD && f->it[k].stack == e->stack && f->it[k].fdkind == e->kind)
				g = &f->it[k];
		if (g == NULL && (g = add_item(f)) != NULL) {
			g->kind = S_FD;
			g->stack = e->stack;
			g->fdkind = e->kind;
			if (s.targets.data != NULL && e->target < s.targets.len)
				snprintf(g->target, sizeof g->target, "%s", s.targets.data + e->target);
		}
		if (g == NULL)
			break;
		if (g->nids < 8)
			g->ids[g->nids++] = e->fd;
		g->count++;
	}
	nprof__fd_snap_free(&s);
}

/*
 * A block the dynamic loader allocated for itself (a thread's DTV, a
 * module's TLS): its only reference may sit in a cached thread stack or a
 * loader structure the scan does not see. LeakSanitizer ignores these too.
 */
static int loader_block(struct nprof_frames *c, uint32_t stack)
{
	int npcs;
	const uintptr_t *pcs = nprof__stack_get(stack, &npcs);
	if (pcs == NULL || npcs == 0 || c->st == NULL)
		return 0;
	const struct nprof_mapping *m = nprof__sym_mapping(c->st, pcs[0] - 1);
	if (m == NULL || m->file == NULL)
		return 0;
	const char *b = nprof__frames_base_name(m->file);
	return strncmp(b, "ld-linux", 8) == 0 || strncmp(b, "ld.so", 5) == 0 ||
	       strncmp(b, "ld-2.", 5) == 0;
}

/* The scan, before anything else runs (symbolizing may start helper
 * threads and fill caches that the scan would have to read around). */
static int scan_heap(struct findings *f, const struct mark *m, struct nprof_reach *r)
{
	if (!m->heap_ok || nprof__heap_rate != 1) {
		f->heap_skipped = 1;
		return -1;
	}
	if (nprof__reach_scan(r) < 0) {
		f->heap_failed = 1;
		return -1;
	}
	return 0;
}

static void collect_heap(struct findings *f, const struct mark *m, struct nprof_frames *c, int all,
			 struct nprof_reach *rp)
{
	struct nprof_reach r = *rp;
	for (size_t i = 0; i < r.n; i++) {
		const struct nprof_region_block *b = &r.blocks[i];
		int st = r.state[i];
		if (!block_new(m, b) || (st == NPROF_REACH_REACHABLE && !all))
			continue;
		struct item *g = NULL;
		for (size_t k = 0; k < f->n; k++)
			if (f->it[k].kind == S_HEAP && f->it[k].stack == b->stack && f->it[k].leak == st) {
				g = &f->it[k];
				break;
			}
		if (g == NULL && (g = add_item(f)) != NULL) {
			g->kind = S_HEAP;
			g->stack = b->stack;
			g->leak = st;
		}
		if (g == NULL)
			break;
		g->count++;
		g->bytes += (int64_t)b->size;
	}
	nprof__reach_free(&r);
	/* Suppressions and totals per group (symbolizing once per group). */
	size_t out = 0;
	for (size_t k = 0; k < f->n; k++) {
		struct item *g = &f->it[k];
		if (g->kind == S_HEAP && loader_block(c, g->stack))
			continue;
		if (g->kind == S_HEAP && nprof__check_supp_matches(c, S_HEAP, g->stack, 0)) {
			if (g->leak != NPROF_REACH_REACHABLE)
				f->suppressed[S_HEAP] += g->count;
			continue;
		}
		if (g->kind == S_HEAP && g->leak != NPROF_REACH_REACHABLE) {
			f->counts[S_HEAP] += g->count;
			f->heap_bytes += g->bytes;
		}
		f->it[out++] = *g;
	}
	f->n = out;
}

/* Worst first: by kind, then threads and fds by count, heap by bytes. */
static int by_worst(const void *a, const void *b)
{
	const struct item *x = a, *y = b;
	if (x->kind != y->kind)
		return x->kind - y->kind;
	int xr = x->kind == S_HEAP && x->leak == NPROF_REACH_REACHABLE;
	int yr = y->kind == S_HEAP && y->leak == NPROF_REACH_REACHABLE;
	if (xr != yr)
		return xr - yr;
	int64_t vx = x->kind == S_HEAP ? x->bytes : x->count;
	int64_t vy = y->kind == S_HEAP ? y->bytes : y->count;
	if (vx != vy)
		return vx < vy ? 1 : -1;
	return (x->stack > y->stack) - (x->stack < y->stack);
}

/* ---------------------------------------------------------------- */
/* the engine                                                        */
/* ---------------------------------------------------------------- */

/* Runs one check against mark `m`: fills text and json (arena). */
static int64_t check_run(const struct mark *m, int kinds, const char *who, struct nprof_buf *text,
			 struct nprof_buf *json, struct findings *out)
{
	struct findings f;
	memset(&f, 0, sizeof f);
	/* Heap first: the scan wants the process as undisturbed as possible. */
	struct nprof_reach r;
	int scanned = (kinds & K_HEAP) && scan_heap(&f, m, &r) == 0;
	struct nprof_frames c;
	nprof__frames_open(&c);
	if (scanned)
		collect_heap(&f, m, &c, kinds & K_HEAP_ALL, &r);
	if (kinds & K_FDS)
		collect_fds(&f, m, &c);
	if (kinds & K_THREADS)
		collect_threads(&f, m, &c);
	if (f.n > 1)
		qsort(f.it, f.n, sizeof *f.it, by_worst);
	if (text != NULL)
		nprof__check_report_text(text, &c, &f, kinds, who);
	if (json != NULL)
		nprof__check_report_json(json, &c, &f, who);
	nprof__frames_close(&c);
	int64_t tot = nprof__check_report_total(&f);
	if (out != NULL)
		*out = f;
	else
		nprof__arena_free(f.it);
	return tot;
}

/* argv[0] of this process. */
static void who_am_i(char *out, size_t cap)
{
	char cmd[256] = "?";
	int fd = open("/proc/self/cmdline", O_RDONLY | O_CLOEXEC);
	if (fd >= 0) {
		ssize_t n = read(fd, cmd, sizeof cmd - 1);
		cmd[n > 0 ? n : 0] = '\0';
		if (n <= 0)
			snprintf(cmd, sizeof cmd, "?");
		close(fd);
	}
	snprintf(out, cap, "%s", cmd);
}

static int write_file(const char *path, const struct nprof_buf *b)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return -errno;
	for (size_t off = 0; off < b->len;) {
		ssize_t w = write(fd, b->data + off, b->len - off);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			close(fd);
			return -EIO;
		}
		off += (size_t)w;
	}
	close(fd);
	return 0;
}

/*
 * Zeroes the dead stack below the caller's frame: the frames of the test
 * case that just returned still hold its pointers, which would make its
 * leaks look reachable to the scan.
 */
static __attribute__((noinline)) void wipe_dead_stack(void)
{
	char dead[32768];
	explicit_bzero(dead, sizeof dead);
	__asm__ volatile("" : : "r"(dead) : "memory");
}

/* The process's own mark: everything, or what came after the fork. */
static struct mark proc_mark = {.all = 1, .heap_ok = 1};
static pid_t done_pid;

static void check_at_exit(const char *dir);

void nprof__check_at_exit(void)
{
	const char *dir = getenv("NPROF_CHECK");
	if (dir == NULL || dir[0] == '\0' || done_pid == getpid())
		return;
	/* Wiped before the work's frame exists, as in nprof_check_end. */
	wipe_dead_stack();
	check_at_exit(dir);
	__asm__ volatile("" ::: "memory"); /* not a tail call */
}

static __attribute__((noinline)) void check_at_exit(const char *dir)
{
	done_pid = getpid();
	int saved = errno;
	int guard = nprof__guard;
	nprof__guard = 1;
	pthread_mutex_lock(&check_lock);
	char who[300];
	who_am_i(who, sizeof who);
	struct nprof_buf text = {0}, json = {0};
	check_run(&proc_mark, nprof__check_supp_kinds(), who, &text, &json, NULL);
	char path[512];
	snprintf(path, sizeof path, "%s/check.%d.json", dir, (int)getpid());
	int rc = json.failed ? -ENOMEM : write_file(path, &json);
	if (rc == 0) {
		snprintf(path, sizeof path, "%s/check.%d.txt", dir, (int)getpid());
		rc = text.failed ? -ENOMEM : write_file(path, &text);
	}
	if (rc < 0)
		nprof__log("NPROF_CHECK: cannot write %s: %s", path, strerror(-rc));
	nprof__buf_free(&text);
	nprof__buf_free(&json);
	pthread_mutex_unlock(&check_lock);
	nprof__guard = guard;
	errno = saved;
}

void nprof__check_postfork_child(void)
{
	const char *dir = getenv("NPROF_CHECK");
	if (dir == NULL || dir[0] == '\0' || nprof__owner_pid == 0)
		return;
	/* The child is checked on its own: it keeps recording (it serves
	 * nothing: `nprof check` turns the socket off) and its report covers
	 * what it made after the fork. */
	int guard = nprof__guard;
	nprof__guard = 1;
	pthread_mutex_init(&check_lock, NULL);
	nprof__running = 1;
	nprof__owner_pid = getpid();
	if (nprof__cfg.heap_rate == 1)
		nprof__heap_rate = 1;
	mark_free(&proc_mark);
	mark_take(&proc_mark);
	proc_mark.heap_ok = nprof__heap_rate == 1;
	proc_mark.all = 0;
	done_pid = 0;
	nprof__guard = guard;
}

/* The main thread's static TLS, for the scan (reach.c). */
__attribute__((constructor)) static void check_ctor(void)
{
	nprof__core_at_exit_fn = nprof__check_at_exit;
	nprof__core_postfork_child_fn = nprof__check_postfork_child;
#if defined(__x86_64__) || defined(__aarch64__)
	nprof__reach_main_tp = (uintptr_t)__builtin_thread_pointer();
#endif
}

/* ---------------------------------------------------------------- */
/* the public API                                                    */
/* ---------------------------------------------------------------- */

static struct mark api_mark;
static int api_begun;

NPROF_API int nprof_check_begin(void)
{
	int saved = errno;
	if (!nprof__running) {
		/* Linked in and not started: start recording every allocation,
		 * serving nothing. */
		int rc = nprof_start("heap_rate=1,socket=off,snapshot=1h");
		if (rc < 0 && rc != -EALREADY) {
			errno = saved;
			return rc;
		}
	}
	int guard = nprof__guard;
	nprof__guard = 1;
	nprof__region_pad = 1;
	pthread_mutex_lock(&check_lock);
	mark_free(&api_mark);
	mark_take(&api_mark);
	api_begun = 1;
	pthread_mutex_unlock(&check_lock);
	nprof__guard = guard;
	errno = saved;
	return 0;
}

static int check_end(struct nprof_check_report *report);

/*
 * Only wipes, then calls the real work: the work's own frame takes the
 * place where the test case's frames just were, and the uninitialised
 * parts of that frame would still hold their pointers if it were set up
 * before the wipe (a leak then looked reachable, depending on how the
 * compiler laid out the frames).
 */
NPROF_API __attribute__((noinline)) int nprof_check_end(struct nprof_check_report *report)
{
	wipe_dead_stack();
	int rc = check_end(report);
	__asm__ volatile("" ::: "memory"); /* not a tail call */
	return rc;
}

static __attribute__((noinline)) int check_end(struct nprof_check_report *report)
{
	if (report == NULL)
		return -EINVAL;
	memset(report, 0, sizeof *report);
	report->text = report->json = "";
	int saved = errno;
	int guard = nprof__guard;
	nprof__guard = 1;
	pthread_mutex_lock(&check_lock);
	int rc;
	if (!api_begun) {
		rc = -EINVAL;
		goto out;
	}
	struct nprof_buf text = {0}, json = {0};
	struct findings f;
	char who[300];
	who_am_i(who, sizeof who);
	int64_t tot = check_run(&api_mark, nprof__check_supp_kinds(), who, &text, &json, &f);
	nprof__arena_free(f.it);
	mark_free(&api_mark);
	api_begun = 0;
	if (text.failed || json.failed) {
		nprof__buf_free(&text);
		nprof__buf_free(&json);
		rc = -ENOMEM;
		goto out;
	}
	nprof__buf_putc(&text, '\0');
	nprof__buf_putc(&json, '\0');
	report->threads = (int)f.counts[S_THREAD];
	report->fds = (int)f.counts[S_FD];
	report->heap_blocks = (long)f.counts[S_HEAP];
	report->heap_bytes = (long)f.heap_bytes;
	report->heap_checked = !f.heap_skipped && !f.heap_failed;
	size_t tl, jl;
	report->reserved_[0] = nprof__buf_take(&text, &tl);
	report->reserved_[1] = nprof__buf_take(&json, &jl);
	report->text = report->reserved_[0] != NULL ? report->reserved_[0] : "";
	report->json = report->reserved_[1] != NULL ? report->reserved_[1] : "";
	rc = tot > 0 ? 1 : 0;
out:
	pthread_mutex_unlock(&check_lock);
	nprof__guard = guard;
	errno = saved;
	return rc;
}

NPROF_API void nprof_check_report_free(struct nprof_check_report *report)
{
	if (report == NULL)
		return;
	nprof__arena_free(report->reserved_[0]);
	nprof__arena_free(report->reserved_[1]);
	memset(report, 0, sizeof *report);
	report->text = report->json = "";
}
