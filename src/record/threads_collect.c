/*
 * threads_collect.c - looking at every thread of the process without
 * disturbing it (nprof__threads_collect), for the thread dumps, the
 * threads profile and the leak detector's snapshots.
 *
 * For each thread in /proc/self/task: its name and state (stat), and from
 * /proc/self/task/TID/syscall, for a thread blocked in a system call, the
 * user stack pointer and program counter (or, for a thread in one of
 * nprof's overrides, where the override was called from, from the
 * registry), from which stackwalk.c unwinds its stack without sending it
 * any signal; threads_look.c reads the files, here the stacks are walked
 * (or taken from the previous dump, for a wait that has not changed). Its wait reason comes from the
 * registry when it waits in an interposed primitive (exact, with a start
 * time), else from the kernel (the system call) with a "seen since" lower
 * bound kept here. docs/internals/threads.md explains the method, the
 * checks against a thread moving while it is read, and the notations.
 *
 * Owns the seen-since table (tid -> where and since when a dump first saw
 * it blocked; rebuilt by every dump), the table of stacks of unchanged
 * interposed waits (tid -> wait sequence number, stack) and dump_lock, which serializes
 * collections and guards that table and stackwalk.c's caches. Lock order:
 * dump_lock, then the registry's lock (threads.c), then stacks/arena.
 *
 * Signals: nothing here runs in a signal handler. The only signal sent is
 * threads_sample.c's, to a thread still running after the re-looks. Everything may allocate (arena; libdw and opendir through malloc,
 * with the hook guard raised).
 */
#include "arena.h"
#include "base.h"
#include "stacks.h"
#include "threads.h"
#include "threads_int.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

/* A collection gives up unwinding after this long and lists the rest
 * without stacks, saying so. */
#define DUMP_DEADLINE_NS (5LL * 1000000000LL)
/* Rounds of re-reading threads found running, and the pause between. */
#define RUNNING_ROUNDS 3
#define RUNNING_PAUSE_NS 200000L

/* One collection at a time; guards the seen-since table and stackwalk.c. */
static pthread_mutex_t dump_lock = PTHREAD_MUTEX_INITIALIZER;

/* ---------------------------------------------------------------- */
/* /proc                                                             */
/* ---------------------------------------------------------------- */

static int same_sys(const struct ksys *a, const struct ksys *b)
{
	return a->running == b->running && a->nr == b->nr && a->sp == b->sp && a->pc == b->pc &&
	       memcmp(a->args, b->args, sizeof a->args) == 0;
}

/* x86-64 system calls a thread commonly blocks in. */
static const char *syscall_name(long nr)
{
	switch (nr) {
	case SYS_read: return "read";
	case SYS_write: return "write";
	case SYS_readv: return "readv";
	case SYS_writev: return "writev";
	case SYS_pread64: return "pread";
	case SYS_pwrite64: return "pwrite";
	case SYS_poll: return "poll";
	case SYS_ppoll: return "ppoll";
	case SYS_select: return "select";
	case SYS_pselect6: return "pselect";
	case SYS_epoll_wait: return "epoll_wait";
	case SYS_epoll_pwait: return "epoll_wait";
#ifdef SYS_epoll_pwait2
	case SYS_epoll_pwait2: return "epoll_wait";
#endif
	case SYS_nanosleep: return "nanosleep";
	case SYS_clock_nanosleep: return "nanosleep";
	case SYS_accept: return "accept";
	case SYS_accept4: return "accept";
	case SYS_connect: return "connect";
	case SYS_recvfrom: return "recv";
	case SYS_recvmsg: return "recvmsg";
	case SYS_recvmmsg: return "recvmmsg";
	case SYS_sendto: return "send";
	case SYS_sendmsg: return "sendmsg";
	case SYS_futex: return "futex";
#ifdef SYS_futex_waitv
	case SYS_futex_waitv: return "futex";
#endif
	case SYS_wait4: return "wait";
	case SYS_waitid: return "wait";
	case SYS_pause: return "pause";
	case SYS_rt_sigsuspend: return "sigsuspend";
	case SYS_rt_sigtimedwait: return "sigwait";
	case SYS_msgrcv: return "msgrcv";
	case SYS_msgsnd: return "msgsnd";
	case SYS_semop: return "semop";
	case SYS_semtimedop: return "semop";
	case SYS_flock: return "flock";
	case SYS_fcntl: return "fcntl";
	case SYS_open: return "open";
	case SYS_openat: return "open";
	case SYS_fsync: return "fsync";
	case SYS_fdatasync: return "fsync";
	case SYS_io_getevents: return "io_getevents";
#ifdef SYS_io_uring_enter
	case SYS_io_uring_enter: return "io_uring_enter";
#endif
	case SYS_mq_timedreceive: return "mq_receive";
	case SYS_splice: return "splice";
	case SYS_sendfile: return "sendfile";
	default: return NULL;
	}
}

/* ---------------------------------------------------------------- */
/* Seen-since: when a dump first saw a thread blocked where it is     */
/* ---------------------------------------------------------------- */

struct seen {
	pid_t tid;                      /* first: sorted and searched with cmp_tid */
	unsigned long long starttime;   /* tells a reused tid apart */
	long nr;
	uintptr_t sp, pc;
	unsigned long long pcount;      /* schedstat: times it ran; ~0 unknown */
	int64_t first_ns;
};

static struct seen *seen_tab;       /* sorted by tid; dump_lock */
static size_t seen_n;

/* Orders tids, and any record whose first member is its tid. */
static int cmp_tid(const void *a, const void *b)
{
	pid_t x = *(const pid_t *)a, y = *(const pid_t *)b;
	return (x > y) - (x < y);
}

static const struct seen *seen_find(pid_t tid)
{
	return seen_n ? bsearch(&tid, seen_tab, seen_n, sizeof *seen_tab, cmp_tid) : NULL;
}

/* ---------------------------------------------------------------- */
/* Stacks of threads still in the wait the previous dump saw          */
/* ---------------------------------------------------------------- */

/*
 * A thread waiting in an override whose wait sequence number has not
 * changed since the previous dump never left that wait: its frames from
 * the override's caller outwards are the ones that dump unwound. Its
 * interned stack is taken again without reading its memory. The leak
 * detector dumps every second, so a dump a person asks for finds most
 * parked threads here. Rebuilt by every dump (dump_lock), sorted by tid.
 */
struct wcache {
	pid_t tid;                      /* first: sorted and searched with cmp_tid */
	unsigned seq;
	const struct nprof_tent *t;
	uintptr_t sp, pc;
	uint32_t stack;
	int flags;                      /* NPROF_TI_TRUNCATED, as the walk found */
};

static struct wcache *wc_tab;       /* sorted by tid; dump_lock */
static size_t wc_n;

static const struct wcache *wc_find(pid_t tid)
{
	return wc_n ? bsearch(&tid, wc_tab, wc_n, sizeof *wc_tab, cmp_tid) : NULL;
}

/* ---------------------------------------------------------------- */
/* Collection                                                        */
/* ---------------------------------------------------------------- */

static unsigned long long read_pcount(int taskfd, pid_t tid)
{
	char buf[128];
	if (nprof__threads_read_file(taskfd, tid, "schedstat", buf, sizeof buf) <= 0)
		return ~0ULL;
	char *p = buf;
	strtoull(p, &p, 10);
	strtoull(p, &p, 10);
	return strtoull(p, NULL, 10);
}

/*
 * The call a restart_syscall continues, from the kernel function the
 * thread sleeps in (/proc/self/task/TID/wchan): the kernel keeps the
 * restart in a function pointer we cannot read, but where it sleeps tells
 * the call. NULL when the name says nothing known (or kallsyms is hidden
 * and wchan reads "0").
 */
static const char *restarted_from_wchan(int taskfd, pid_t tid)
{
	static const struct { const char *prefix, *call; } map[] = {
		{"do_sys_poll", "poll"}, {"do_restart_poll", "poll"}, {"poll_schedule", "poll"},
		{"do_select", "select"}, {"core_sys_select", "select"},
		{"ep_poll", "epoll_wait"}, {"do_epoll_wait", "epoll_wait"},
		{"do_nanosleep", "nanosleep"}, {"hrtimer_nanosleep", "nanosleep"},
		{"futex_wait", "futex"},
	};
	char buf[64];
	if (nprof__threads_read_file(taskfd, tid, "wchan", buf, sizeof buf) <= 0)
		return NULL;
	for (size_t i = 0; i < sizeof map / sizeof map[0]; i++)
		if (strncmp(buf, map[i].prefix, strlen(map[i].prefix)) == 0)
			return map[i].call;
	return NULL;
}

/* Fills the wait description of a thread the registry knows nothing
 * about from the kernel's view. */
static void kernel_wait(struct nprof_thread_info *ti, const struct ksys *ks, int have_sys,
			const struct kstat *kst)
{
	const char *name = NULL;
	if (kst->state == 'T' || kst->state == 't') {
		name = "stopped";
	} else if (kst->state == 'Z' || kst->state == 'X') {
		name = "exiting";
	} else if (!have_sys) {
		name = kst->state == 'R' ? "running" : "unknown";
	} else if (ks->running) {
		name = "running";
	} else if (ks->nr < 0) {
		name = kst->state == 'D' ? "uninterruptible, not in a system call" : "sleeping";
	} else {
		name = syscall_name(ks->nr);
		if (name == NULL)
			name = nprof__syscall_name(ks->nr);
		if (name == NULL) {
			snprintf(ti->wait_buf, sizeof ti->wait_buf, "syscall %ld", ks->nr);
			name = ti->wait_buf;
		}
	}
	if (name != ti->wait_buf)
		snprintf(ti->wait_buf, sizeof ti->wait_buf, "%s%s", name,
			 kst->state == 'D' && have_sys && ks->nr >= 0 ? ", uninterruptible" : "");
	ti->wait = ti->wait_buf;
}

static void set_free(struct nprof_thread_set *s)
{
	nprof__arena_free(s->t);
	s->t = NULL;
	s->n = 0;
}

void nprof__threads_set_free(struct nprof_thread_set *s)
{
	set_free(s);
}

/* Lists the tids of /proc/self/task, sorted; arena array in *out. */
static ssize_t list_tids(pid_t **out)
{
	DIR *d = opendir("/proc/self/task");
	if (d == NULL)
		return -errno;
	size_t cap = 1024, n = 0;
	pid_t *t = nprof__arena_alloc(sizeof *t * cap);
	struct dirent *e;
	while (t != NULL && (e = readdir(d)) != NULL) {
		pid_t tid = (pid_t)atoi(e->d_name);
		if (tid <= 0)
			continue;
		if (n == cap) {
			pid_t *nt = nprof__arena_realloc(t, sizeof *t * cap * 2);
			if (nt == NULL) {
				nprof__arena_free(t);
				t = NULL;
				break;
			}
			t = nt;
			cap *= 2;
		}
		t[n++] = tid;
	}
	closedir(d);
	if (t == NULL)
		return -ENOMEM;
	qsort(t, n, sizeof *t, cmp_tid);
	*out = t;
	return (ssize_t)n;
}

/* ---------------------------------------------------------------- */
/* The previous listing, reused while the thread count says nothing  */
/* came or went                                                      */
/* ---------------------------------------------------------------- */

/*
 * Listing /proc/self/task costs about 1.2 us per thread in the kernel
 * (12 ms of a dump of 10,000 parked threads, on the dumping thread before
 * any reading can start), and in a steady service the set of threads is
 * the one the previous dump (or the leak detector's snapshot a second
 * ago) listed. The kernel's thread count (Threads: of /proc/self/status,
 * one file) proves it: with K threads now, the previous listing P (every
 * thread it listed; none of nprof's own) and I of nprof's own threads
 * alive, K == |P| + I and every thread of P still there means no thread
 * is missing from P. nprof's own threads are counted twice, before and
 * after the count, and must be the same set: one that started or ended
 * in between could otherwise stand for a new thread of the program (one
 * not yet marked as nprof's, or already unmarked, only makes K larger:
 * the listing is read instead). A thread of P found gone while reading
 * may have made room for a new one: the collection then starts over with
 * a real listing (threads_collect below). Reuse of the gone thread's tid
 * by another thread within those few milliseconds is the only case this
 * reasoning does not cover, and even then the thread under that tid is
 * read afresh and listed. dump_lock.
 */
static pid_t *prev_tids;            /* sorted */
static size_t prev_n;
static int prev_valid;

#define INTERNAL_MAX 64

/* The Threads: line of /proc/self/status; -1 unknown. */
static long status_threads(void)
{
	char buf[4096];
	if (nprof__threads_read_at(AT_FDCWD, "/proc/self/status", buf, sizeof buf) <= 0)
		return -1;
	const char *p = strstr(buf, "\nThreads:");
	return p != NULL ? strtol(p + 9, NULL, 10) : -1;
}

/* A copy of the previous listing when the thread count proves it
 * complete; its length, or -1 (then list /proc/self/task). */
static ssize_t list_from_prev(pid_t **out)
{
	if (!prev_valid)
		return -1;
	pid_t in1[INTERNAL_MAX], in2[INTERNAL_MAX];
	int n1 = nprof__thread_internal_live(in1, INTERNAL_MAX);
	long k = status_threads();
	int n2 = nprof__thread_internal_live(in2, INTERNAL_MAX);
	if (k < 0 || n1 != n2 || n1 >= INTERNAL_MAX || memcmp(in1, in2, sizeof *in1 * (size_t)n1) != 0 ||
	    k != (long)prev_n + n1)
		return -1;
	pid_t *t = nprof__arena_alloc(sizeof *t * (prev_n + 1));
	if (t == NULL)
		return -1;
	memcpy(t, prev_tids, sizeof *t * prev_n);
	*out = t;
	return (ssize_t)prev_n;
}

/* Keeps the tids the collection listed, for the next one. */
static void keep_listing(const struct nprof_thread_set *s)
{
	pid_t *t = nprof__arena_alloc(sizeof *t * (s->n + 1));
	if (t != NULL)
		for (size_t i = 0; i < s->n; i++)
			t[i] = s->t[i].tid;
	nprof__arena_free(prev_tids);
	prev_tids = t;
	prev_n = t != NULL ? s->n : 0;
	prev_valid = t != NULL;
	/* Listed in tid order already, but the running threads' later
	 * rounds may add out of order. */
	if (t != NULL)
		qsort(t, prev_n, sizeof *t, cmp_tid);
}

/*
 * Unwinds one blocked thread; returns the stack's frame count. `t` is the
 * thread's registry entry when it waits in an interposed primitive, with
 * the wait's sequence number `seq`.
 */
static int walk_blocked(int taskfd, pid_t tid, struct ksys *ks, uintptr_t *pcs, int *flags,
			struct nprof_tent *t, unsigned seq)
{
	char buf[256];
	for (int attempt = 0;; attempt++) {
		int wf = 0;
		int n = nprof__walk_remote(ks->sp, ks->pc, pcs, NPROF_MAX_FRAMES, &wf);
		*flags = wf & NPROF_WALK_TRUNCATED ? NPROF_TI_TRUNCATED : 0;
		/* In an interposed wait, an unchanged wait sequence proves the
		 * thread never returned from the override: every frame from the
		 * override's caller outwards (all that is kept) is intact, even if
		 * it woke spuriously inside the C library. */
		if (t != NULL) {
			if (atomic_load_explicit(&t->seq, memory_order_acquire) == seq &&
			    atomic_load_explicit(&t->tid, memory_order_relaxed) == (int)tid)
				return n;
			*flags |= NPROF_TI_TORN;
			return n;
		}
		/* Did it move while we read its stack? The kernel's answer is
		 * consistent at each read; two equal answers around the walk mean
		 * (up to a wake-up and return to the very same call) it did not. */
		struct ksys again;
		if (nprof__threads_read_file(taskfd, tid, "syscall", buf, sizeof buf) < 0 ||
		    nprof__threads_parse_syscall(buf, &again) < 0) {
			*flags |= NPROF_TI_GONE;
			return n;
		}
		if (same_sys(&again, ks))
			return n;
		if (attempt == 1 || again.running || again.nr < 0) {
			*flags |= NPROF_TI_TORN;
			return n;
		}
		*ks = again;
	}
}

int nprof__threads_collect(struct nprof_thread_set *s, int what)
{
	int want_stacks = (what & NPROF_COLLECT_STACKS) != 0;
	int sample = want_stacks && (what & NPROF_COLLECT_SAMPLE);
	memset(s, 0, sizeof *s);
	int guard = nprof__guard;
	nprof__guard = 1;
	pthread_mutex_lock(&dump_lock);
	int64_t t0 = nprof__mono_ns();
	int rc = 0;
	pid_t *tids = NULL, *running = NULL;
	struct nprof_regcopy *regs = NULL;
	struct seen *nseen = NULL;
	struct wcache *nwc = NULL;
	struct look *looks = NULL;
	size_t nregs = 0, nseen_n = 0, nrunning = 0, nwc_n = 0;
	int taskfd = -1;

	if (want_stacks && nprof__walk_begin() < 0)
		s->unwinder_missing = 1;
	int relisted = 0;
again:;
	ssize_t ntids = relisted ? -1 : list_from_prev(&tids);
	int from_prev = ntids >= 0;
	if (!from_prev)
		ntids = list_tids(&tids);
	if (ntids < 0) {
		rc = (int)ntids;
		goto out;
	}
	taskfd = open("/proc/self/task", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	s->t = nprof__arena_alloc(sizeof *s->t * (size_t)(ntids + 1));
	nseen = nprof__arena_alloc(sizeof *nseen * (size_t)(ntids + 1));
	nwc = nprof__arena_alloc(sizeof *nwc * (size_t)(ntids + 1));
	looks = nprof__arena_alloc(sizeof *looks * (size_t)(ntids + 1));
	running = nprof__arena_alloc(sizeof *running * (size_t)(ntids + 1));
	if (taskfd < 0 || s->t == NULL || nseen == NULL || nwc == NULL || looks == NULL ||
	    running == NULL) {
		rc = taskfd < 0 ? -errno : -ENOMEM;
		goto out;
	}

	/* A copy of the registry, so that its lock is not held while reading
	 * /proc. Entries stay valid memory even if their thread exits. */
	regs = nprof__threads_reg_snapshot(&nregs);
	if (regs != NULL)
		qsort(regs, nregs, sizeof *regs, cmp_tid);

	pid_t me = nprof__gettid();
	pid_t main_tid = getpid();
	int64_t deadline = t0 + DUMP_DEADLINE_NS;
	struct look_job job = {
		.tids = tids, .n = (size_t)ntids, .out = looks, .taskfd = taskfd, .me = me,
		.regs = regs, .nregs = nregs, .no_names = (what & NPROF_COLLECT_NO_NAMES) != 0,
	};
	pthread_t helpers[LOOK_HELPERS_MAX];
	int nhelpers = nprof__threads_look_start(&job, helpers, sample);
	s->readers = 1 + nhelpers;

	for (int round = 0; round <= RUNNING_ROUNDS; round++) {
		/* Round 0 visits every thread; later rounds look again at the
		 * threads that were running, in case they have blocked since. */
		size_t count = round == 0 ? (size_t)ntids : nrunning;
		size_t still = 0;
		if (round > 0) {
			if (nrunning == 0)
				break;
			struct timespec ts = {0, RUNNING_PAUSE_NS};
			nanosleep(&ts, NULL);
		}
		for (size_t i = 0; i < count; i++) {
			pid_t tid = round == 0 ? tids[i] : running[i];
			struct look again, *l = &looks[i];
			if (round == 0)
				nprof__threads_look_ready(&job, i);
			if (round > 0) {
				nprof__threads_look_at(&job, tid, &again);
				l = &again;
			}
			if (l->what == LOOK_INTERNAL) {
				s->internal++;
				continue;
			}
			if (l->what == LOOK_GONE) {
				s->exited++;
				continue;
			}
			struct ksys ks = l->ks;
			int have_sys = l->have_sys;
			if (have_sys && ks.running && round < RUNNING_ROUNDS &&
			    nprof__mono_ns() < deadline) {
				running[still++] = tid;
				continue;
			}
			struct nprof_thread_info ti;
			memset(&ti, 0, sizeof ti);
			ti.tid = tid;
			ti.is_main = tid == main_tid;
			memcpy(ti.name, l->kst.name, sizeof ti.name);
			ti.state = l->kst.state;
			int reason = l->reason;
			if (l->reg != NULL) {
				ti.creator_stack = l->reg->creator_stack;
				ti.creator_tid = l->reg->creator_tid;
				ti.known_creator = l->reg->creator_stack != 0 || l->reg->creator_tid != 0;
			}
			uintptr_t pcs[NPROF_MAX_FRAMES];
			int n = 0;
			uint32_t reused = 0;   /* the stack the previous dump interned */
			if (tid == me) {
				if (want_stacks)
					n = nprof__unwind_here(pcs, NPROF_MAX_FRAMES, 0);
				n = nprof__threads_strip_self(pcs, n, 0);
				snprintf(ti.wait_buf, sizeof ti.wait_buf, "running");
				ti.wait = ti.wait_buf;
				ti.flags |= NPROF_TI_SELF;
			} else if (have_sys && !ks.running && ks.nr >= 0 && ks.sp != 0 && want_stacks) {
				const struct wcache *wc = l->from_reg ? wc_find(tid) : NULL;
				if (wc != NULL && wc->t == l->reg->t && wc->seq == l->seq &&
				    wc->sp == ks.sp && wc->pc == ks.pc) {
					reused = wc->stack;
					ti.flags |= wc->flags;
				} else if (nprof__mono_ns() < deadline) {
					int f = 0;
					n = walk_blocked(taskfd, tid, &ks, pcs, &f,
							 reason != NPROF_WAIT_NONE ? l->reg->t : NULL, l->seq);
					ti.flags |= f;
					/* Unwound from the override's caller: no C
					 * library frames above it to drop. */
					n = nprof__threads_strip_self(pcs, n, reason != NPROF_WAIT_NONE &&
										  !l->from_reg);
				} else {
					ti.flags |= NPROF_TI_NOSTACK_TIME;
				}
			} else if (have_sys && ks.running) {
				/* Still running after the re-looks: it is not in a
				 * system call, so one signal can make it unwind
				 * itself (threads_sample.c says when it is sent).
				 * Failing that, one pseudo frame, so that the thread
				 * counts in every profile. */
				if (sample && nprof__mono_ns() < deadline) {
					char tname[16];
					snprintf(tname, sizeof tname, "%d", (int)tid);
					int tdir = openat(taskfd, tname, O_PATH | O_DIRECTORY | O_CLOEXEC);
					if (tdir >= 0) {
						n = nprof__threads_sample_running(tdir, tid, pcs,
										  NPROF_MAX_FRAMES);
						close(tdir);
					}
					n = nprof__threads_strip_self(pcs, n, 0);
				}
				if (n > 0) {
					ti.flags |= NPROF_TI_SAMPLED;
				} else {
					ti.flags |= NPROF_TI_NOSTACK_RUNNING;
					if (want_stacks) {
						pcs[0] = NPROF_PC_RUNNING;
						n = 1;
					}
				}
			} else if (want_stacks) {
				ti.flags |= NPROF_TI_NOSTACK_OTHER;
			}
			if (ti.flags & NPROF_TI_GONE) {
				s->exited++;
				continue;
			}
			if (n > 0)
				ti.stack = nprof__stack_intern(pcs, n);
			else if (reused != 0)
				ti.stack = reused;
			if (l->from_reg && ti.stack != 0 && !(ti.flags & (NPROF_TI_TORN | NPROF_TI_GONE)))
				nwc[nwc_n++] = (struct wcache){tid, l->seq, l->reg->t, ks.sp, ks.pc, ti.stack,
							       ti.flags & NPROF_TI_TRUNCATED};
			if (tid != me) {
				if (reason != NPROF_WAIT_NONE) {
					ti.wait = nprof__wait_names[reason];
					ti.wait_kind = NPROF_WAITK_EXACT;
					ti.wait_ns = t0 - l->since;
				} else {
					kernel_wait(&ti, &ks, have_sys, &l->kst);
				}
			}
			/* Seen-since bookkeeping for waits only the kernel knows. */
			if (have_sys && !ks.running && ks.nr >= 0 && reason == NPROF_WAIT_NONE) {
				unsigned long long pc_now = read_pcount(taskfd, tid);
				const struct seen *old = seen_find(tid);
				struct seen *ns = &nseen[nseen_n++];
				*ns = (struct seen){tid, l->kst.starttime, ks.nr, ks.sp, ks.pc, pc_now, t0};
				/* A wait interrupted (a debugger's stop, a handled
				 * signal) and restarted by the kernel shows as
				 * restart_syscall at the same sp and pc: the same
				 * wait, with its start and its call's number. The
				 * run count moved (it ran the handler), so it is not
				 * compared then. */
				int restarted = ks.nr == SYS_restart_syscall && old != NULL &&
						old->starttime == l->kst.starttime &&
						old->sp == ks.sp && old->pc == ks.pc;
				if (restarted) {
					ns->nr = old->nr;
					ns->first_ns = old->first_ns;
				} else if (old != NULL && old->starttime == l->kst.starttime &&
					   old->nr == ks.nr && old->sp == ks.sp && old->pc == ks.pc &&
					   (pc_now == ~0ULL || old->pcount == pc_now)) {
					ns->first_ns = old->first_ns;
				}
				if (ks.nr == SYS_restart_syscall) {
					const char *call = NULL;
					if (ns->nr != SYS_restart_syscall)
						call = syscall_name(ns->nr);
					if (call == NULL && ns->nr != SYS_restart_syscall)
						call = nprof__syscall_name(ns->nr);
					if (call == NULL)
						call = restarted_from_wchan(taskfd, tid);
					if (call != NULL) {
						snprintf(ti.wait_buf, sizeof ti.wait_buf, "%s (restarted)", call);
						ti.wait = ti.wait_buf;
					}
				}
				if (ti.wait_kind == NPROF_WAITK_NONE) {
					ti.wait_kind = NPROF_WAITK_SEEN_SINCE;
					ti.wait_ns = t0 - ns->first_ns;
				}
			}
			if (ti.flags & NPROF_TI_TORN)
				s->torn++;
			if (ti.flags & (NPROF_TI_NOSTACK_RUNNING | NPROF_TI_NOSTACK_TIME |
					NPROF_TI_NOSTACK_OTHER))
				s->no_stack++;
			s->t[s->n] = ti;
			if (ti.wait == ti.wait_buf)   /* it pointed into the local copy */
				s->t[s->n].wait = s->t[s->n].wait_buf;
			s->n++;
		}
		nrunning = still;
		if (round == 0)
			nprof__threads_look_finish(&job, helpers, nhelpers);
		if (round == 0 && from_prev && (s->exited != 0 || s->internal != 0)) {
			/* The previous listing was reused and a thread of it is
			 * gone (or is nprof's own under a reused tid): a new
			 * thread may have taken its place in the count. Start
			 * over with a real listing; nothing has been signalled
			 * and the tables are only replaced at the end. */
			close(taskfd);
			taskfd = -1;
			nprof__arena_free(tids);
			nprof__arena_free(regs);
			nprof__arena_free(s->t);
			nprof__arena_free(nseen);
			nprof__arena_free(nwc);
			nprof__arena_free(looks);
			nprof__arena_free(running);
			tids = running = NULL;
			regs = NULL;
			nseen = NULL;
			nwc = NULL;
			looks = NULL;
			nregs = nseen_n = nrunning = nwc_n = 0;
			int missing = s->unwinder_missing;
			memset(s, 0, sizeof *s);
			s->unwinder_missing = missing;
			relisted = 1;
			goto again;
		}
	}
	/* The seen table is rebuilt from this dump: threads that are gone
	 * drop out. It must stay sorted by tid for lookups. */
	qsort(nseen, nseen_n, sizeof *nseen, cmp_tid);
	nprof__arena_free(seen_tab);
	seen_tab = nseen;
	seen_n = nseen_n;
	nseen = NULL;
	/* Collected in tid order already (round 0), but the running
	 * threads' later rounds may add out of order. */
	qsort(nwc, nwc_n, sizeof *nwc, cmp_tid);
	nprof__arena_free(wc_tab);
	wc_tab = nwc;
	wc_n = nwc_n;
	nwc = NULL;
	keep_listing(s);
out:
	s->elapsed_ns = nprof__mono_ns() - t0;
	s->time_ns = t0;
	if (taskfd >= 0)
		close(taskfd);
	nprof__arena_free(tids);
	nprof__arena_free(regs);
	nprof__arena_free(nseen);
	nprof__arena_free(nwc);
	nprof__arena_free(looks);
	nprof__arena_free(running);
	pthread_mutex_unlock(&dump_lock);
	nprof__guard = guard;
	if (rc < 0)
		set_free(s);
	return rc;
}

long nprof__threads_count(void)
{
	long n = 0;
	DIR *d = opendir("/proc/self/task");
	if (d == NULL)
		return 0;
	struct dirent *e;
	while ((e = readdir(d)) != NULL) {
		pid_t tid = (pid_t)atoi(e->d_name);
		if (tid > 0 && !nprof__thread_is_internal(tid))
			n++;
	}
	closedir(d);
	return n;
}

void nprof__threads_collect_forget(void)
{
	pthread_mutex_t fresh = PTHREAD_MUTEX_INITIALIZER;
	dump_lock = fresh;
	seen_tab = NULL;
	seen_n = 0;
	wc_tab = NULL;
	wc_n = 0;
	prev_tids = NULL;
	prev_n = 0;
	prev_valid = 0;
	nprof__walk_forget();
}

/* At start: a first look at every thread starts the "seen since" clocks
 * now rather than at the first request. */
void nprof__threads_collect_prime(void)
{
	struct nprof_thread_set s;
	if (nprof__threads_collect(&s, 0) == 0)
		nprof__threads_set_free(&s);
}
