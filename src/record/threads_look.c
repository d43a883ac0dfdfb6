/*
 * threads_look.c - the first look at every thread of a dump: its stat and
 * syscall files in /proc/self/task, read before any unwinding, on the
 * dumping thread or shared with short-lived helper threads when there are
 * thousands (threads_collect.c unwinds what was read).
 *
 * The first look at every thread, shared out in chunks of LOOK_CHUNK
 * threads. Reading /proc (two files per thread, about 8 µs each) is most
 * of a dump of blocked threads, and the kernel serves it in parallel:
 * measured on 2 CPUs under load, stat + syscall of 10,000 threads took
 * 0.17 s on one thread and 0.09 s on two. With thousands of threads,
 * helper threads (one per further CPU, up to LOOK_HELPERS_MAX) take
 * chunks from the end while the dumping thread takes them from the front,
 * looking and then unwinding (stackwalk.c's caches are the dumping
 * thread's alone), so the unwinding overlaps the helpers' reading too.
 * A chunk's state: 0 free, 1 being looked at, 2 done (release/acquire).
 *
 * Signals: nothing here runs in a signal handler. Helpers are nprof's own
 * threads (created with the hook guard up and every signal blocked). The
 * job is read-only for helpers but for its chunk states (atomics) and the
 * looks of the chunks they claimed. Everything else: dump_lock held by
 * the caller (threads_collect.c).
 */
#include "arena.h"
#include "base.h"
#include "fd.h"
#include "threads.h"
#include "threads_int.h"

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

#define LOOK_CHUNK 128
#define LOOK_PARALLEL_MIN 1024

/* Orders tids, and any record whose first member is its tid. */
static int cmp_tid(const void *a, const void *b)
{
	pid_t x = *(const pid_t *)a, y = *(const pid_t *)b;
	return (x > y) - (x < y);
}

/* Reads file NAME of thread TID, /proc/self/task/TID/NAME, opened relative
 * to `taskfd` (/proc/self/task), into buf, NUL-terminated. Returns the
 * length or -1. One openat with the path "TID/NAME" costs less than an
 * O_PATH descriptor of the thread's directory plus an openat per file
 * (measured: 0.17 s against 0.20-0.24 s for stat and syscall of 10,000
 * threads): the directory's own open and close are two system calls. */
ssize_t nprof__threads_read_file(int taskfd, pid_t tid, const char *name, char *buf, size_t cap)
{
	/* The path by hand: snprintf's parsing was a visible share of a
	 * look at ten thousand threads. */
	char path[48], digits[12];
	size_t nd = 0, len = strlen(name);
	unsigned v = (unsigned)tid;
	do
		digits[nd++] = (char)('0' + v % 10);
	while ((v /= 10) != 0 && nd < sizeof digits);
	if (nd + 1 + len >= sizeof path)
		return -1;
	for (size_t i = 0; i < nd; i++)
		path[i] = digits[nd - 1 - i];
	path[nd] = '/';
	memcpy(path + nd + 1, name, len + 1);
	return nprof__threads_read_at(taskfd, path, buf, cap);
}

/*
 * Opens, reads and closes with raw system calls, not through nprof's own
 * openat and close overrides (hooks/fd_hooks.c): under the hook guard the
 * openat override moves every new descriptor of nprof's to a high number
 * (getrlimit, fcntl F_DUPFD and a close: three more system calls), which
 * is right for a descriptor nprof keeps but pure cost for one closed
 * microseconds later. Measured on 10,000 parked threads: openat with its
 * placing was half of a dump's /proc reading. The number is still marked
 * as nprof's own while it is open, so that a program's stray close() of
 * it fails with EBADF (fd.c) instead of closing it under the reader.
 */
ssize_t nprof__threads_read_at(int dirfd, const char *path, char *buf, size_t cap)
{
	int fd = (int)syscall(SYS_openat, dirfd, path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	nprof__fd_created_guarded(fd);
	ssize_t n;
	do
		n = read(fd, buf, cap - 1);
	while (n < 0 && errno == EINTR);
	int saved = errno;
	nprof__fd_forget_sigsafe(fd);
	syscall(SYS_close, fd);
	errno = saved;
	if (n < 0)
		return -1;
	buf[n] = '\0';
	return n;
}


static int parse_stat(const char *s, struct kstat *k)
{
	const char *open = strchr(s, '('), *close = strrchr(s, ')');
	if (open == NULL || close == NULL || close < open || close[1] == '\0')
		return -1;
	size_t len = (size_t)(close - open - 1);
	if (len >= sizeof k->name)
		len = sizeof k->name - 1;
	memcpy(k->name, open + 1, len);
	k->name[len] = '\0';
	const char *p = close + 2;
	k->state = *p;
	/* starttime is field 22; the state is field 3. */
	for (int field = 3; field < 22 && *p; p++)
		if (*p == ' ')
			field++;
	k->starttime = strtoull(p, NULL, 10);
	return 0;
}


int nprof__threads_parse_syscall(const char *s, struct ksys *k)
{
	memset(k, 0, sizeof *k);
	if (strncmp(s, "running", 7) == 0) {
		k->running = 1;
		return 0;
	}
	char *end;
	k->nr = strtol(s, &end, 10);
	if (end == s)
		return -1;
	int nargs = k->nr >= 0 ? 6 : 0;
	for (int i = 0; i < nargs; i++)
		k->args[i] = strtoull(end, &end, 16);
	k->sp = (uintptr_t)strtoull(end, &end, 16);
	k->pc = (uintptr_t)strtoull(end, &end, 16);
	return 0;
}

static const struct nprof_regcopy *reg_find(const struct nprof_regcopy *r, size_t n, pid_t tid)
{
	return n ? bsearch(&tid, r, n, sizeof *r, cmp_tid) : NULL;
}

/* Reads an entry's wait state consistently (seqlock): reason, start,
 * sequence number, and where the override was called from. */
static void read_wait(struct nprof_tent *t, pid_t tid, int *reason, int64_t *since,
		      unsigned *seq, uintptr_t *sp, uintptr_t *pc)
{
	*reason = NPROF_WAIT_NONE;
	for (int tries = 0; tries < 4; tries++) {
		unsigned s1 = atomic_load_explicit(&t->seq, memory_order_acquire);
		if (s1 & 1)
			continue;
		int r = atomic_load_explicit(&t->reason, memory_order_relaxed);
		int64_t since_ns = atomic_load_explicit(&t->since_ns, memory_order_relaxed);
		uintptr_t wsp = atomic_load_explicit(&t->wait_sp, memory_order_relaxed);
		uintptr_t wpc = atomic_load_explicit(&t->wait_pc, memory_order_relaxed);
		atomic_thread_fence(memory_order_acquire);
		if (atomic_load_explicit(&t->seq, memory_order_relaxed) != s1)
			continue;
		if (atomic_load_explicit(&t->tid, memory_order_relaxed) != (int)tid)
			return;
		*reason = r >= 0 && r < NPROF_WAIT_COUNT ? r : NPROF_WAIT_NONE;
		*since = since_ns;
		*seq = s1;
		*sp = wsp;
		*pc = wpc;
		return;
	}
}



/*
 * Reads one thread's stat and syscall files. The registry's wait state is
 * read first, so that an unchanged wait sequence after the unwinding
 * proves the thread stayed in that one wait all along. Runs on the
 * dumping thread and on look helpers: reads only the job and /proc.
 */
void nprof__threads_look_at(const struct look_job *j, pid_t tid, struct look *l)
{
	char buf[1024];
	memset(l, 0, sizeof *l);
	if (nprof__thread_is_internal(tid)) {
		l->what = LOOK_INTERNAL;
		return;
	}
	l->reg = j->regs ? reg_find(j->regs, j->nregs, tid) : NULL;
	l->reason = NPROF_WAIT_NONE;
	uintptr_t wsp = 0, wpc = 0;
	if (l->reg != NULL)
		read_wait(l->reg->t, tid, &l->reason, &l->since, &l->seq, &wsp, &wpc);
	/* In an interposed wait, the override said where it was called from:
	 * the stack is unwound from there, and the syscall file (a third of
	 * the system calls of a dump) is not needed. Nor is a signal, should
	 * the thread be spinning inside the C library's wait. Nor is stat:
	 * its state and start time serve only waits the kernel alone knows,
	 * and the name is also the comm file, which the kernel writes with
	 * the same function and about 15% faster (no scheduler statistics
	 * and memory counters to gather; 10,000 threads: 75 against 89 ms). */
	if (l->reason != NPROF_WAIT_NONE && wsp != 0 && wpc != 0 && tid != j->me) {
		l->kst.state = '?';
		l->have_sys = 1;
		l->from_reg = 1;
		l->ks.sp = wsp;
		l->ks.pc = wpc;
		l->what = LOOK_OK;
		/* Without names nothing needs the kernel: the entry still
		 * carries this tid, so the thread has not exited (its key
		 * destructor clears the tid, threads.c). */
		if (j->no_names)
			return;
		ssize_t n = nprof__threads_read_file(j->taskfd, tid, "comm", buf, sizeof buf);
		if (n <= 0) {
			l->what = LOOK_GONE;
			return;
		}
		n--;   /* the newline the kernel appends */
		if (n >= (ssize_t)sizeof l->kst.name)
			n = sizeof l->kst.name - 1;
		memcpy(l->kst.name, buf, (size_t)n);
		l->kst.name[n] = '\0';
		return;
	}
	if (nprof__threads_read_file(j->taskfd, tid, "stat", buf, sizeof buf) < 0 ||
	    parse_stat(buf, &l->kst) < 0) {
		l->what = LOOK_GONE;
		return;
	}
	l->have_sys = tid != j->me &&
		      nprof__threads_read_file(j->taskfd, tid, "syscall", buf, sizeof buf) >= 0 &&
		      nprof__threads_parse_syscall(buf, &l->ks) == 0;
	l->what = LOOK_OK;
}

static int chunk_claim(struct look_job *j, size_t c)
{
	unsigned char free_ = 0;
	return atomic_compare_exchange_strong(&j->chunk[c], &free_, 1);
}

static void chunk_look(struct look_job *j, size_t c)
{
	size_t hi = (c + 1) * LOOK_CHUNK < j->n ? (c + 1) * LOOK_CHUNK : j->n;
	for (size_t i = c * LOOK_CHUNK; i < hi; i++)
		nprof__threads_look_at(j, j->tids[i], &j->out[i]);
	atomic_store_explicit(&j->chunk[c], 2, memory_order_release);
}

/* A look helper: claims chunks from the end until none is left. It is one
 * of nprof's own threads (created with the hook guard up, signals
 * blocked), so dumps skip it and no program signal reaches it. */
static void *look_helper(void *arg)
{
	struct look_job *j = arg;
	nprof__guard = 1;
	long c;
	while ((c = atomic_fetch_sub(&j->back, 1) - 1) >= 0)
		if (chunk_claim(j, (size_t)c))
			chunk_look(j, (size_t)c);
	return NULL;
}

/* Makes sure thread i has been looked at: claims its chunk when nobody
 * has, else waits for the helper that has (it is reading /proc: short). */
void nprof__threads_look_ready(struct look_job *j, size_t i)
{
	size_t c = i / LOOK_CHUNK;
	if (j->chunk == NULL) {
		if (i % LOOK_CHUNK == 0) {
			size_t hi = i + LOOK_CHUNK < j->n ? i + LOOK_CHUNK : j->n;
			for (size_t k = i; k < hi; k++)
				nprof__threads_look_at(j, j->tids[k], &j->out[k]);
		}
		return;
	}
	if (chunk_claim(j, c)) {
		chunk_look(j, c);
		return;
	}
	while (atomic_load_explicit(&j->chunk[c], memory_order_acquire) != 2)
		sched_yield();
}

/* The CPUs this process may run on. */
static int usable_cpus(void)
{
	cpu_set_t set;
	if (sched_getaffinity(0, sizeof set, &set) == 0)
		return CPU_COUNT(&set);
	long n = sysconf(_SC_NPROCESSORS_ONLN);
	return n > 0 ? (int)n : 1;
}

/* Starts the look helpers for a large job; returns how many started.
 * Only dumps a person asks for (those that may sample) use them: the
 * leak detector's background snapshots and the trace stay on one thread. */
int nprof__threads_look_start(struct look_job *j, pthread_t *helpers, int asked)
{
	j->nchunks = (j->n + LOOK_CHUNK - 1) / LOOK_CHUNK;
	j->chunk = NULL;
	int want = usable_cpus() - 1;
	if (want > LOOK_HELPERS_MAX)
		want = LOOK_HELPERS_MAX;
	if (!asked || j->n < LOOK_PARALLEL_MIN || want <= 0 || nprof__cfg.no_parallel_dump)
		return 0;
	j->chunk = nprof__arena_alloc(j->nchunks);
	if (j->chunk == NULL)
		return 0;
	for (size_t c = 0; c < j->nchunks; c++)
		atomic_init(&j->chunk[c], 0);
	atomic_init(&j->back, (long)j->nchunks);
	/* Signals blocked around the creation, so the helper starts with
	 * them blocked (a program signal never lands on it). */
	sigset_t old;
	nprof__block_signals(&old);
	int started = 0;
	for (; started < want; started++)
		if (pthread_create(&helpers[started], NULL, look_helper, j) != 0)
			break;
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	return started;
}

/* Waits for the helpers (every chunk is done by then) and frees the job's
 * chunk states. */
void nprof__threads_look_finish(struct look_job *j, pthread_t *helpers, int nhelpers)
{
	for (int h = 0; h < nhelpers; h++)
		pthread_join(helpers[h], NULL);
	nprof__arena_free((void *)j->chunk);
	j->chunk = NULL;
}
