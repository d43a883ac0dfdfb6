/*
 * trace.c - /debug/pprof/trace?seconds=N (default 1, at most 60): what
 * every thread did over the window, as Chrome Trace Event Format JSON
 * (gzipped; ui.perfetto.dev and chrome://tracing open it).
 *
 * Method: the handler's own thread polls, 100 times a second,
 * /proc/self/task (the thread list) and each thread's stat (running or
 * not) and, for a thread that is not running, its syscall file (which
 * system call it waits in) - one pread each on descriptors kept open over
 * the window - and nprof's thread registry (threads.c), which says exactly
 * when a thread began to wait in an interposed primitive
 * (pthread_mutex_lock, pthread_cond_wait, ...) and which thread created
 * it. Once a second it also takes a thread dump (nprof__threads_collect,
 * the same collection /debug/pprof/goroutine does, which unwinds blocked
 * threads from outside) for the program line a wait is at. Nothing here
 * sends a signal or stops a thread, so no blocked call sees EINTR; the
 * cost is the poller's own CPU (bench/ measures it).
 *
 * Events: per thread one M thread_name and back-to-back X slices
 * ("running", or the wait reason with the program line in args), never
 * overlapping, so they nest trivially; i instants for thread start and
 * exit, with s/f flow events from the creating thread; C counters for
 * threads, heap in use and descriptors every 100 ms. Timestamps are
 * microseconds since the window began.
 *
 * Data: all in arena memory owned by one request (tracks, segments, the
 * JSON), freed before the handler returns. Several traces may run at once;
 * they share nothing but what the functions they call serialise.
 *
 * Threads and locking: runs on an HTTP connection thread (hook guard
 * raised, signals blocked). Takes the registry lock briefly per tick
 * (through nprof__threads_reg_snapshot) and the dump lock once a second
 * (nprof__threads_collect). Never in a signal handler.
 */
#include "arena.h"
#include "base.h"
#include "buf.h"
#include "fd_report.h"
#include "heap.h"
#include "procmaps.h"
#include "profile.h"
#include "stacks.h"
#include "symbolize.h"
#include "threads.h"
#include "threads_int.h"
#include "trace.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

/* The poller looks at most 100 times a second and takes a dump at most
 * once a second, and spends at most TICK_SHARE and DUMP_SHARE of one core
 * (its own thread CPU time, measured) on each: with many threads it looks
 * less often rather than cost more. */
#define TICK_NS 10000000LL          /* 100 Hz at most */
#define DUMP_NS 1000000000LL        /* a dump a second at most */
#define TICK_SHARE 200              /* ticks: <= 1/200 of one core */
#define DUMP_SHARE 400              /* dumps: <= 1/400 of one core */
#define COUNTER_NS 100000000LL      /* counters every 100 ms */
#define MAX_TRACKS 8192
#define MAX_SEGS 400000             /* slices kept; beyond, counted as dropped */
#define REASON_LEN 40
#define MAX_SECONDS 60

enum { ST_RUN = 0, ST_WAIT };

struct track {
	pid_t tid;
	int fd_stat, fd_sys;
	char name[16];
	int seen;                   /* last tick it was listed */
	int cur;                    /* open segment index, -1 none */
	int named;                  /* name read from stat */
	int64_t born_us;            /* -1: existed when the window began */
	int64_t gone_us;            /* -1: still alive */
	pid_t creator;              /* 0 unknown */
};

struct seg {
	int track;
	int state;
	int64_t start_us, end_us;
	uint32_t stack;             /* from a dump; 0 none */
	char reason[REASON_LEN];
};

#define HCAP 16384                  /* slots of the tid hash: 2 x MAX_TRACKS */

struct trace {
	int64_t t0;
	struct track *tr;
	int ntr;
	int *slot;                  /* tid hash: live track index + 1, 0 empty, -1 removed */
	int64_t tick_cpu, dump_cpu; /* the poller's own CPU, ns, spent on each */
	int ticks;
	struct seg *seg;
	int nseg, segcap;
	long dropped;
	struct nprof_buf counters;  /* C events, written as sampled */
};

/* System calls a blocked thread is most often in, by x86-64/aarch64
 * number (SYS_ macros of this build). */
static const char *syscall_name(long nr)
{
	switch (nr) {
#ifdef SYS_read
	case SYS_read: return "read";
#endif
#ifdef SYS_write
	case SYS_write: return "write";
#endif
#ifdef SYS_poll
	case SYS_poll: return "poll";
#endif
#ifdef SYS_ppoll
	case SYS_ppoll: return "ppoll";
#endif
#ifdef SYS_select
	case SYS_select: return "select";
#endif
#ifdef SYS_pselect6
	case SYS_pselect6: return "pselect6";
#endif
#ifdef SYS_epoll_wait
	case SYS_epoll_wait: return "epoll_wait";
#endif
#ifdef SYS_epoll_pwait
	case SYS_epoll_pwait: return "epoll_pwait";
#endif
#ifdef SYS_epoll_pwait2
	case SYS_epoll_pwait2: return "epoll_pwait2";
#endif
#ifdef SYS_nanosleep
	case SYS_nanosleep: return "nanosleep";
#endif
#ifdef SYS_clock_nanosleep
	case SYS_clock_nanosleep: return "nanosleep";
#endif
#ifdef SYS_accept
	case SYS_accept: return "accept";
#endif
#ifdef SYS_accept4
	case SYS_accept4: return "accept";
#endif
#ifdef SYS_connect
	case SYS_connect: return "connect";
#endif
#ifdef SYS_recvfrom
	case SYS_recvfrom: return "recvfrom";
#endif
#ifdef SYS_recvmsg
	case SYS_recvmsg: return "recvmsg";
#endif
#ifdef SYS_sendto
	case SYS_sendto: return "sendto";
#endif
#ifdef SYS_futex
	case SYS_futex: return "futex";
#endif
#ifdef SYS_wait4
	case SYS_wait4: return "wait4";
#endif
#ifdef SYS_pause
	case SYS_pause: return "pause";
#endif
#ifdef SYS_rt_sigsuspend
	case SYS_rt_sigsuspend: return "sigsuspend";
#endif
#ifdef SYS_rt_sigtimedwait
	case SYS_rt_sigtimedwait: return "sigtimedwait";
#endif
#ifdef SYS_pread64
	case SYS_pread64: return "pread";
#endif
#ifdef SYS_readv
	case SYS_readv: return "readv";
#endif
#ifdef SYS_io_getevents
	case SYS_io_getevents: return "io_getevents";
#endif
#ifdef SYS_io_uring_enter
	case SYS_io_uring_enter: return "io_uring_enter";
#endif
	default: return NULL;
	}
}

static ssize_t pread_str(int fd, char *buf, size_t cap)
{
	ssize_t n;
	do
		n = pread(fd, buf, cap - 1, 0);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return -1;
	buf[n] = '\0';
	return n;
}

static int64_t thread_cpu_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static int64_t now_us(const struct trace *t)
{
	return (nprof__mono_ns() - t->t0) / 1000;
}

static unsigned tid_hash(pid_t tid)
{
	return ((unsigned)tid * 2654435761u) & (HCAP - 1);
}

/* The live track of `tid`, or NULL. */
static struct track *track_find(struct trace *t, pid_t tid)
{
	for (unsigned h = tid_hash(tid), i = 0; i < HCAP; i++, h = (h + 1) & (HCAP - 1)) {
		int v = t->slot[h];
		if (v == 0)
			return NULL;
		if (v > 0 && t->tr[v - 1].tid == tid)
			return &t->tr[v - 1];
	}
	return NULL;
}

static void track_index(struct trace *t, int idx)
{
	for (unsigned h = tid_hash(t->tr[idx].tid); ; h = (h + 1) & (HCAP - 1))
		if (t->slot[h] <= 0) {
			t->slot[h] = idx + 1;
			return;
		}
}

static void track_unindex(struct trace *t, int idx)
{
	for (unsigned h = tid_hash(t->tr[idx].tid), i = 0; i < HCAP; i++, h = (h + 1) & (HCAP - 1)) {
		if (t->slot[h] == 0)
			return;
		if (t->slot[h] == idx + 1) {
			t->slot[h] = -1;
			return;
		}
	}
}

static int by_tid(const void *a, const void *b)
{
	pid_t x = ((const struct nprof_regcopy *)a)->tid, y = ((const struct nprof_regcopy *)b)->tid;
	return (x > y) - (x < y);
}

static const struct nprof_regcopy *reg_find(const struct nprof_regcopy *rc, size_t nrc, pid_t tid)
{
	struct nprof_regcopy key = { .tid = tid };
	return rc != NULL ? bsearch(&key, rc, nrc, sizeof *rc, by_tid) : NULL;
}

static void seg_close(struct trace *t, struct track *k, int64_t at)
{
	if (k->cur >= 0) {
		t->seg[k->cur].end_us = at;
		k->cur = -1;
	}
}

static void seg_open(struct trace *t, struct track *k, int state, const char *reason, int64_t at)
{
	if (t->nseg == t->segcap) {
		int ncap = t->segcap ? t->segcap * 2 : 1024;
		struct seg *n;
		if (ncap > MAX_SEGS || (n = nprof__arena_alloc(sizeof *n * (size_t)ncap)) == NULL) {
			t->dropped++;
			return;
		}
		if (t->seg != NULL) {
			memcpy(n, t->seg, sizeof *n * (size_t)t->nseg);
			nprof__arena_free(t->seg);
		}
		t->seg = n;
		t->segcap = ncap;
	}
	struct seg *s = &t->seg[t->nseg];
	s->track = (int)(k - t->tr);
	s->state = state;
	s->start_us = at;
	s->end_us = -1;
	s->stack = 0;
	size_t rl = strnlen(reason, sizeof s->reason - 1);
	memcpy(s->reason, reason, rl);
	s->reason[rl] = '\0';
	k->cur = t->nseg++;
}

/* Parses "TID (comm) S ..." into the name; returns the state letter. */
static char stat_state(const char *s, char *name, size_t cap)
{
	const char *o = strchr(s, '('), *c = strrchr(s, ')');
	if (o == NULL || c == NULL || c < o || c[1] == '\0' || c[2] == '\0')
		return '?';
	size_t n = (size_t)(c - o - 1);
	if (n >= cap)
		n = cap - 1;
	memcpy(name, o + 1, n);
	name[n] = '\0';
	return c[2];
}

/* The exact wait of `tid` in an interposed primitive, from the registry
 * copy sorted by tid (seqlock read), or NULL. */
static const char *registry_wait(const struct nprof_regcopy *rc, size_t nrc, pid_t tid)
{
	const struct nprof_regcopy *c = reg_find(rc, nrc, tid);
	if (c == NULL || c->t == NULL)
		return NULL;
	const struct nprof_tent *e = c->t;
	for (int tries = 0; tries < 4; tries++) {
		unsigned s1 = atomic_load_explicit(&e->seq, memory_order_acquire);
		int r = atomic_load_explicit(&e->reason, memory_order_relaxed);
		atomic_thread_fence(memory_order_acquire);
		unsigned s2 = atomic_load_explicit(&e->seq, memory_order_relaxed);
		if (s1 == s2 && !(s1 & 1) && atomic_load_explicit(&e->tid, memory_order_relaxed) == tid)
			return r > 0 && r < NPROF_WAIT_COUNT ? nprof__wait_names[r] : NULL;
	}
	return NULL;
}

static pid_t registry_creator(const struct nprof_regcopy *rc, size_t nrc, pid_t tid)
{
	const struct nprof_regcopy *c = reg_find(rc, nrc, tid);
	return c != NULL ? c->creator_tid : 0;
}

/* One look at every thread. */
static void tick(struct trace *t, DIR *dir, int n)
{
	size_t nrc = 0;
	struct nprof_regcopy *rc = nprof__threads_reg_snapshot(&nrc);
	int64_t at = now_us(t);

	if (rc != NULL)
		qsort(rc, nrc, sizeof *rc, by_tid);
	struct dirent *de;
	pid_t self = (pid_t)syscall(SYS_gettid);
	char buf[512];

	rewinddir(dir);
	while ((de = readdir(dir)) != NULL) {
		if (de->d_name[0] < '0' || de->d_name[0] > '9')
			continue;
		pid_t tid = (pid_t)atoi(de->d_name);
		struct track *k = track_find(t, tid);
		if (k == NULL) {
			if (tid == self || t->ntr == MAX_TRACKS || nprof__thread_is_internal(tid))
				continue;
			char path[64];
			k = &t->tr[t->ntr];
			memset(k, 0, sizeof *k);
			k->tid = tid;
			k->cur = -1;
			k->born_us = n == 0 ? -1 : at;
			k->gone_us = -1;
			snprintf(path, sizeof path, "/proc/self/task/%d/stat", (int)tid);
			k->fd_stat = open(path, O_RDONLY | O_CLOEXEC);
			snprintf(path, sizeof path, "/proc/self/task/%d/syscall", (int)tid);
			k->fd_sys = open(path, O_RDONLY | O_CLOEXEC);
			if (k->fd_stat < 0) {
				if (k->fd_sys >= 0)
					close(k->fd_sys);
				continue;
			}
			track_index(t, t->ntr++);
			k->creator = registry_creator(rc, nrc, tid);
		}
		/* One read a look: the syscall file says "running" for a
		 * runnable thread, else the system call it sleeps in (-1 when
		 * asleep outside one, as in a page fault). The name (stat) is
		 * read when the thread is first seen and at the end. */
		if (!k->named) {
			if (pread_str(k->fd_stat, buf, sizeof buf) > 0)
				(void)stat_state(buf, k->name, sizeof k->name);
			k->named = 1;
		}
		if (k->fd_sys < 0 || pread_str(k->fd_sys, buf, sizeof buf) <= 0)
			continue; /* exiting: noticed below when no longer listed */
		k->seen = n;
		int state = ST_WAIT;
		const char *reason;
		if (strncmp(buf, "running", 7) == 0) {
			state = ST_RUN;
			reason = "running";
		} else if ((reason = registry_wait(rc, nrc, tid)) == NULL) {
			long nr = strtol(buf, NULL, 10);
			reason = nr >= 0 ? syscall_name(nr) : "sleep";
			if (reason == NULL)
				reason = "syscall";
		}
		struct seg *cur = k->cur >= 0 ? &t->seg[k->cur] : NULL;
		if (cur == NULL || cur->state != state || strcmp(cur->reason, reason) != 0) {
			seg_close(t, k, at);
			seg_open(t, k, state, reason, at);
		}
	}
	/* Threads no longer listed have exited. */
	for (int i = 0; i < t->ntr; i++) {
		struct track *k = &t->tr[i];
		if (k->gone_us >= 0 || k->seen == n)
			continue;
		seg_close(t, k, at);
		k->gone_us = at;
		track_unindex(t, i);
		close(k->fd_stat);
		if (k->fd_sys >= 0)
			close(k->fd_sys);
	}
	nprof__arena_free(rc);
}

/* A dump: the stack of each blocked thread goes to its open slice. */
static void dump(struct trace *t)
{
	struct nprof_thread_set set;
	if (nprof__threads_collect(&set, NPROF_COLLECT_STACKS) != 0)
		return;
	for (size_t i = 0; i < set.n; i++) {
		struct track *k = track_find(t, set.t[i].tid);
		if (k == NULL || k->cur < 0 || set.t[i].stack == 0)
			continue;
		struct seg *s = &t->seg[k->cur];
		if (s->state != ST_WAIT)
			continue;
		s->stack = set.t[i].stack;
		if (k->creator == 0)
			k->creator = set.t[i].creator_tid;
	}
	nprof__threads_set_free(&set);
}

static void counters(struct trace *t)
{
	struct nprof_heap_totals h;
	int64_t at = now_us(t);
	int live = 0;

	for (int i = 0; i < t->ntr; i++)
		live += t->tr[i].gone_us < 0;
	nprof__heap_totals(&h);
	nprof__buf_printf(&t->counters,
			  ",\n{\"ph\":\"C\",\"pid\":%d,\"tid\":0,\"ts\":%" PRId64
			  ",\"name\":\"threads\",\"args\":{\"threads\":%d}}"
			  ",\n{\"ph\":\"C\",\"pid\":%d,\"tid\":0,\"ts\":%" PRId64
			  ",\"name\":\"heap in use\",\"args\":{\"bytes\":%" PRId64 "}}"
			  ",\n{\"ph\":\"C\",\"pid\":%d,\"tid\":0,\"ts\":%" PRId64
			  ",\"name\":\"descriptors\",\"args\":{\"fds\":%ld}}",
			  (int)getpid(), at, live, (int)getpid(), at, h.inuse_bytes,
			  (int)getpid(), at, nprof__fd_count());
}

/* The first frame of `stack` in the program's own code, as
 * "function file:line", into out; "" when none. */
static int foreign(const struct nprof_mapping *m)
{
	static const char *const sys[] = { "libc.so", "libc-", "ld-linux", "libpthread",
					   "libstdc++", "libgcc_s", "libnprof", "libdw",
					   "libelf", "libmicrohttpd", "libunwind", "libm.so" };
	if (m == NULL || m->file == NULL || m->file[0] == '\0' || m->file[0] == '[')
		return 1;
	const char *b = strrchr(m->file, '/');
	b = b ? b + 1 : m->file;
	for (size_t i = 0; i < sizeof sys / sizeof sys[0]; i++)
		if (strncmp(b, sys[i], strlen(sys[i])) == 0)
			return 1;
	return 0;
}

static void site_of(struct nprof_symtab *st, uint32_t stack, char *out, size_t cap)
{
	int npcs;
	const uintptr_t *pcs = nprof__stack_get(stack, &npcs);
	out[0] = '\0';
	for (int i = 0; st != NULL && pcs != NULL && i < npcs; i++) {
		uintptr_t addr = pcs[i] - (i > 0);
		if (foreign(nprof__sym_mapping(st, addr)))
			continue;
		struct nprof_frame fr[8];
		int nf = nprof__sym_lookup(st, addr, fr, 8);
		if (nf <= 0)
			continue;
		snprintf(out, cap, "%s %s:%d", fr[0].function[0] ? fr[0].function : "?",
			 fr[0].file, fr[0].line);
		return;
	}
}

static int gzip_into(const struct nprof_buf *in, struct nprof_buf *out)
{
	z_stream z;
	unsigned char chunk[65536];
	int rc;

	memset(&z, 0, sizeof z);
	if (deflateInit2(&z, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
		return -1;
	z.next_in = (unsigned char *)in->data;
	z.avail_in = (uInt)in->len;
	do {
		z.next_out = chunk;
		z.avail_out = sizeof chunk;
		rc = deflate(&z, Z_FINISH);
		nprof__buf_append(out, chunk, sizeof chunk - z.avail_out);
	} while (rc == Z_OK);
	deflateEnd(&z);
	return rc == Z_STREAM_END && !out->failed ? 0 : -1;
}

static void write_json(struct trace *t, struct nprof_buf *b, int64_t end_us, int seconds)
{
	int pid = (int)getpid();
	struct nprof_symtab *st = nprof__sym_open();
	char site[512];
	long flow = 0;

	nprof__buf_printf(b, "{\"displayTimeUnit\":\"ms\",\"otherData\":{\"producer\":\"nprof\","
			  "\"seconds\":%d,\"looks\":%d,\"poller_cpu_ms\":%.1f,\"dump_cpu_ms\":%.1f,"
			  "\"dropped_slices\":%ld},\n"
			  "\"traceEvents\":[\n"
			  "{\"ph\":\"M\",\"pid\":%d,\"tid\":0,\"name\":\"process_name\",\"args\":{\"name\":\"nprof trace\"}}",
			  seconds, t->ticks, (double)t->tick_cpu / 1e6, (double)t->dump_cpu / 1e6,
			  t->dropped, pid);
	for (int i = 0; i < t->ntr; i++) {
		struct track *k = &t->tr[i];
		nprof__buf_printf(b, ",\n{\"ph\":\"M\",\"pid\":%d,\"tid\":%d,\"name\":\"thread_name\",\"args\":{\"name\":",
				  pid, (int)k->tid);
		char label[48];
		snprintf(label, sizeof label, "%s %d", k->name[0] ? k->name : "thread", (int)k->tid);
		nprof__buf_json_str(b, label);
		nprof__buf_printf(b, "}}");
		if (k->born_us >= 0) {
			nprof__buf_printf(b, ",\n{\"ph\":\"i\",\"s\":\"t\",\"pid\":%d,\"tid\":%d,\"ts\":%" PRId64
					  ",\"name\":\"thread start\",\"cat\":\"thread\",\"args\":{\"creator\":%d}}",
					  pid, (int)k->tid, k->born_us, (int)k->creator);
			if (k->creator != 0) {
				flow++;
				nprof__buf_printf(b, ",\n{\"ph\":\"s\",\"id\":%ld,\"pid\":%d,\"tid\":%d,\"ts\":%" PRId64
						  ",\"name\":\"pthread_create\",\"cat\":\"thread\"}"
						  ",\n{\"ph\":\"f\",\"bp\":\"e\",\"id\":%ld,\"pid\":%d,\"tid\":%d,\"ts\":%" PRId64
						  ",\"name\":\"pthread_create\",\"cat\":\"thread\"}",
						  flow, pid, (int)k->creator, k->born_us, flow, pid,
						  (int)k->tid, k->born_us);
			}
		}
		if (k->gone_us >= 0)
			nprof__buf_printf(b, ",\n{\"ph\":\"i\",\"s\":\"t\",\"pid\":%d,\"tid\":%d,\"ts\":%" PRId64
					  ",\"name\":\"thread exit\",\"cat\":\"thread\"}",
					  pid, (int)k->tid, k->gone_us);
	}
	for (int i = 0; i < t->nseg; i++) {
		struct seg *s = &t->seg[i];
		int64_t e = s->end_us >= 0 ? s->end_us : end_us;
		if (e <= s->start_us)
			continue;
		nprof__buf_printf(b, ",\n{\"ph\":\"X\",\"pid\":%d,\"tid\":%d,\"ts\":%" PRId64 ",\"dur\":%" PRId64
				  ",\"cat\":\"%s\",\"name\":", pid, (int)t->tr[s->track].tid, s->start_us,
				  e - s->start_us, s->state == ST_RUN ? "running" : "waiting");
		nprof__buf_json_str(b, s->reason);
		nprof__buf_printf(b, ",\"args\":{\"state\":\"%s\"",
				  s->state == ST_RUN ? "running" : "waiting");
		if (s->state == ST_WAIT) {
			nprof__buf_printf(b, ",\"wait\":");
			nprof__buf_json_str(b, s->reason);
		}
		if (s->stack != 0) {
			site_of(st, s->stack, site, sizeof site);
			if (site[0] != '\0') {
				nprof__buf_printf(b, ",\"line\":");
				nprof__buf_json_str(b, site);
			}
		}
		nprof__buf_printf(b, "}}");
	}
	if (st != NULL)
		nprof__sym_close(st);
	if (t->counters.data != NULL)
		nprof__buf_append(b, t->counters.data, t->counters.len);
	nprof__buf_printf(b, "\n]}\n");
}

void nprof__trace_handle(const struct nprof_req *req, struct nprof_reply *rep)
{
	int seconds = req->seconds > 0 ? req->seconds : 1;
	struct trace t;
	struct nprof_buf json = {0};
	DIR *dir;
	int n = 0;

	if (seconds > MAX_SECONDS) {
		nprof__reply_error(rep, 400, "nprof: trace seconds=%d: at most %d", seconds, MAX_SECONDS);
		return;
	}
	memset(&t, 0, sizeof t);
	t.tr = nprof__arena_alloc(sizeof *t.tr * MAX_TRACKS);
	t.slot = nprof__arena_alloc(sizeof *t.slot * HCAP);
	dir = opendir("/proc/self/task");
	if (t.tr == NULL || t.slot == NULL || dir == NULL) {
		if (dir != NULL)
			closedir(dir);
		nprof__arena_free(t.tr);
		nprof__arena_free(t.slot);
		nprof__reply_error(rep, 503, "nprof: trace: out of memory or no /proc");
		return;
	}
	memset(t.slot, 0, sizeof *t.slot * HCAP);
	t.t0 = nprof__mono_ns();
	int64_t end = t.t0 + (int64_t)seconds * 1000000000LL;
	int64_t next_dump = t.t0, next_counter = t.t0;
	int gone = 0;
	for (;;) {
		int64_t c0 = thread_cpu_ns(), now;
		tick(&t, dir, n++);
		int64_t c1 = thread_cpu_ns();
		t.tick_cpu += c1 - c0;
		now = nprof__mono_ns();
		if (now >= next_counter) {
			counters(&t);
			next_counter = now + COUNTER_NS;
		}
		if (now >= next_dump) {
			dump(&t);
			int64_t d = thread_cpu_ns() - c1;
			t.dump_cpu += d;
			next_dump = now + (d * DUMP_SHARE > DUMP_NS ? d * DUMP_SHARE : DUMP_NS);
		}
		/* The next look: one tick later, or later still when a look
		 * costs more than TICK_SHARE of the time between looks. */
		int64_t gap = (c1 - c0) * TICK_SHARE;
		int64_t next = now + (gap > TICK_NS ? gap : TICK_NS);
		t.ticks = n;
		if (next >= end)
			break;
		if (req->client_gone(req)) {
			gone = 1;
			break;
		}
		int64_t wait = next - nprof__mono_ns();
		if (wait > 0) {
			struct timespec ts = { wait / 1000000000LL, (long)(wait % 1000000000LL) };
			while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
				;
		}
	}
	int64_t end_us = now_us(&t);
	dump(&t);
	counters(&t);
	closedir(dir);
	for (int i = 0; i < t.ntr; i++)
		if (t.tr[i].gone_us < 0) {
			/* Names set after the thread was first seen. */
			char buf[512];
			if (pread_str(t.tr[i].fd_stat, buf, sizeof buf) > 0)
				(void)stat_state(buf, t.tr[i].name, sizeof t.tr[i].name);
			close(t.tr[i].fd_stat);
			if (t.tr[i].fd_sys >= 0)
				close(t.tr[i].fd_sys);
		}
	if (!gone) {
		write_json(&t, &json, end_us, seconds);
		if (json.failed || gzip_into(&json, &rep->body) != 0)
			rep->body.failed = 1;
		rep->content_type = "application/json";
		rep->attachment = "trace.json.gz";
	}
	nprof__buf_free(&json);
	nprof__buf_free(&t.counters);
	nprof__arena_free(t.seg);
	nprof__arena_free(t.tr);
	nprof__arena_free(t.slot);
}
