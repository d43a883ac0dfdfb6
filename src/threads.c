/*
 * threads.c - the thread profiles: /debug/pprof/goroutine (alias
 * threads) and /debug/pprof/threadcreate, the NPROF_DUMP_SIGNAL dump, and
 * the registry of threads behind them.
 *
 * Owns
 *   - the registry: one struct nprof_tent per thread nprof knows (started
 *     through the pthread_create wrapper, or registered on its first
 *     interposed wait: the main thread, threads from before nprof). It
 *     holds who created the thread and, written by the thread itself, what
 *     it waits for (threads_int.h). Entries live in arena chunks and are
 *     recycled through a free list, never freed.
 *   - the threadcreate table: creating stack id -> threads created there.
 *   - the "seen since" table: for threads blocked in a system call nprof
 *     did not interpose, the first dump that saw them blocked at that very
 *     place, so that a duration can be given as a lower bound.
 *   - collection (nprof__threads_collect): every thread in
 *     /proc/self/task, its name and state from stat, and for a thread
 *     blocked in a system call its stack, unwound from the sp and pc the
 *     kernel reports in /proc/self/task/TID/syscall (stackwalk.c) without
 *     signalling it. docs/internals/threads.md explains why and what the
 *     notations in the output mean.
 *   - the text and proto formats, and the handlers.
 *
 * Locking
 *   reg_lock   registry lists and the threadcreate table; taken by a thread
 *              starting, exiting or registering itself, and briefly by a
 *              dump to copy the list. Never held while calling out.
 *   dump_lock  one collection at a time (it owns the unwinder's caches and
 *              the seen-since table); held for the whole collection.
 *              Order: dump_lock, then reg_lock, then stacks/arena.
 *   The wait state in an entry is written lock-free by its own thread
 *   under a sequence counter.
 *
 * Signals: the only code here that runs in a signal handler is
 * dump_signal_handler, which writes one byte to a pipe (async-signal-safe)
 * and returns; a dedicated internal thread (all signals blocked) does the
 * dump. Everything else may allocate (arena, and libdw through malloc
 * with the hook guard raised).
 */
#include "threads_int.h"

#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <link.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

const char *const nprof__wait_names[NPROF_WAIT_COUNT] = {
	[NPROF_WAIT_NONE] = "",
	[NPROF_WAIT_COND_WAIT] = "pthread_cond_wait",
	[NPROF_WAIT_COND_TIMEDWAIT] = "pthread_cond_timedwait",
	[NPROF_WAIT_COND_CLOCKWAIT] = "pthread_cond_clockwait",
	[NPROF_WAIT_MUTEX_LOCK] = "pthread_mutex_lock",
	[NPROF_WAIT_MUTEX_TIMEDLOCK] = "pthread_mutex_timedlock",
	[NPROF_WAIT_MUTEX_CLOCKLOCK] = "pthread_mutex_clocklock",
	[NPROF_WAIT_RWLOCK_RDLOCK] = "pthread_rwlock_rdlock",
	[NPROF_WAIT_RWLOCK_WRLOCK] = "pthread_rwlock_wrlock",
	[NPROF_WAIT_RWLOCK_TIMEDRDLOCK] = "pthread_rwlock_timedrdlock",
	[NPROF_WAIT_RWLOCK_TIMEDWRLOCK] = "pthread_rwlock_timedwrlock",
	[NPROF_WAIT_SEM_WAIT] = "sem_wait",
	[NPROF_WAIT_SEM_TIMEDWAIT] = "sem_timedwait",
	[NPROF_WAIT_SEM_CLOCKWAIT] = "sem_clockwait",
	[NPROF_WAIT_JOIN] = "pthread_join",
	[NPROF_WAIT_TIMEDJOIN] = "pthread_timedjoin_np",
	[NPROF_WAIT_CLOCKJOIN] = "pthread_clockjoin_np",
	[NPROF_WAIT_BARRIER] = "pthread_barrier_wait",
};

/* A collection gives up unwinding after this long and lists the rest
 * without stacks, saying so. */
#define DUMP_DEADLINE_NS (5LL * 1000000000LL)
/* Rounds of re-reading threads found running, and the pause between. */
#define RUNNING_ROUNDS 3
#define RUNNING_PAUSE_NS 200000L

/* ---------------------------------------------------------------- */
/* The registry                                                      */
/* ---------------------------------------------------------------- */

#define CHUNK 256

NPROF_TLS struct nprof_tent *nprof__tself;
static NPROF_TLS int texiting;      /* past the exit destructor: never register again */

static pthread_mutex_t reg_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_mutex_t dump_lock = PTHREAD_MUTEX_INITIALIZER;
static struct nprof_tent *live, *free_list;
static size_t nlive;
static pthread_key_t exit_key;
static pthread_once_t key_once = PTHREAD_ONCE_INIT;
static int key_ok;

/* threadcreate: open addressing, stack id -> count; reg_lock. */
struct tc_ent {
	uint32_t stack;
	int64_t count;
};
static struct tc_ent *tc_tab;
static size_t tc_cap, tc_used;
static int64_t tc_total;

/* libnprof's own executable range, stripped from every stack. */
static uintptr_t self_lo, self_hi;

static void unregister_self(void *unused);

static void make_key(void)
{
	key_ok = pthread_key_create(&exit_key, unregister_self) == 0;
}

/* Takes an entry from the free list or a new chunk; reg_lock held. */
static struct nprof_tent *tent_alloc_locked(void)
{
	if (free_list == NULL) {
		struct nprof_tent *c = nprof__arena_alloc(sizeof *c * CHUNK);
		if (c == NULL)
			return NULL;
		for (int i = 0; i < CHUNK; i++) {
			c[i].next = free_list;
			free_list = &c[i];
		}
	}
	struct nprof_tent *t = free_list;
	free_list = t->next;
	return t;
}

/*
 * Registers the calling thread; the guard must be raised by the caller.
 * `lazily`: called from inside a hooked lock operation, where this thread
 * may already hold reg_lock (fork's prepare handler locks it, then the
 * arena's lock through the hook) or wait for a lock whose holder waits for
 * reg_lock: then only a trylock is safe, and on failure the thread stays
 * unregistered until its next wait.
 */
static struct nprof_tent *register_self(uint32_t creator_stack, pid_t creator_tid, int lazily)
{
	pthread_once(&key_once, make_key);
	if (lazily) {
		if (pthread_mutex_trylock(&reg_lock) != 0)
			return NULL;
	} else {
		pthread_mutex_lock(&reg_lock);
	}
	struct nprof_tent *t = tent_alloc_locked();
	if (t != NULL) {
		t->creator_stack = creator_stack;
		t->creator_tid = creator_tid;
		t->born_ns = nprof__mono_ns();
		atomic_store(&t->reason, NPROF_WAIT_NONE);
		atomic_store(&t->since_ns, 0);
		atomic_store(&t->obj, 0);
		atomic_store(&t->tid, (int)nprof__gettid());
		t->prev = NULL;
		t->next = live;
		if (live != NULL)
			live->prev = t;
		live = t;
		nlive++;
	}
	pthread_mutex_unlock(&reg_lock);
	if (t != NULL) {
		nprof__tself = t;
		/* The key's destructor unregisters at thread exit (return,
		 * pthread_exit or cancellation), for every thread alike. */
		if (key_ok)
			pthread_setspecific(exit_key, t);
	}
	return t;
}

static void unregister_self(void *p)
{
	struct nprof_tent *t = p;
	int guard = nprof__guard;
	nprof__guard = 1;
	texiting = 1;
	nprof__tself = NULL;
	pthread_mutex_lock(&reg_lock);
	if (atomic_load(&t->tid) != 0) {
		atomic_store(&t->tid, 0);
		if (t->prev != NULL)
			t->prev->next = t->next;
		else
			live = t->next;
		if (t->next != NULL)
			t->next->prev = t->prev;
		t->next = free_list;
		t->prev = NULL;
		free_list = t;
		nlive--;
	}
	pthread_mutex_unlock(&reg_lock);
	nprof__guard = guard;
}

struct nprof_tent *nprof__threads_self_slow(void)
{
	if (texiting || nprof__thread_is_internal(nprof__gettid()))
		return NULL;
	int saved = errno;
	nprof__guard = 1;
	struct nprof_tent *t = register_self(0, 0, 1);
	nprof__guard = 0;
	errno = saved;
	return t;
}

/* Finds libnprof's own text so that its frames can be stripped. */
static int find_self_range(struct dl_phdr_info *info, size_t size, void *arg)
{
	(void)size;
	(void)arg;
	uintptr_t me = (uintptr_t)find_self_range;
	for (int i = 0; i < info->dlpi_phnum; i++) {
		const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
		if (ph->p_type != PT_LOAD || !(ph->p_flags & PF_X))
			continue;
		uintptr_t lo = info->dlpi_addr + ph->p_vaddr, hi = lo + ph->p_memsz;
		if (me >= lo && me < hi) {
			/* Linked statically into the program (unit tests), the range
			 * would be the program's: strip nothing then. */
			if (info->dlpi_name != NULL && info->dlpi_name[0] != '\0') {
				self_lo = lo;
				self_hi = hi;
			}
			return 1;
		}
	}
	return 0;
}

static int in_self(uintptr_t pc)
{
	return pc >= self_lo && pc < self_hi;
}

/*
 * Removes nprof's frames from a stack. When the thread waits in one of
 * nprof's overrides, the stack starts at the override's caller (SPEC §3):
 * the C library frames above the override (futex wait internals) go too,
 * since the wait reason already names the primitive.
 */
static int strip_self(uintptr_t *pcs, int n, int waits_in_hook)
{
	int start = 0;
	if (waits_in_hook) {
		for (int i = 0; i < n && i < 24; i++)
			if (in_self(pcs[i])) {
				start = i;
				while (start < n && in_self(pcs[start]))
					start++;
				break;
			}
	}
	int out = 0;
	for (int i = start; i < n; i++)
		if (!in_self(pcs[i]))
			pcs[out++] = pcs[i];
	return out;
}

/* The threadcreate count of `stack`; reg_lock held. */
static void tc_add_locked(uint32_t stack)
{
	if (tc_used * 2 >= tc_cap) {
		size_t ncap = tc_cap ? tc_cap * 2 : 256;
		struct tc_ent *n = nprof__arena_alloc(sizeof *n * ncap);
		if (n == NULL)
			return;
		for (size_t i = 0; i < tc_cap; i++) {
			if (tc_tab[i].count == 0)
				continue;
			size_t j = (tc_tab[i].stack * 2654435761u) & (ncap - 1);
			while (n[j].count != 0)
				j = (j + 1) & (ncap - 1);
			n[j] = tc_tab[i];
		}
		nprof__arena_free(tc_tab);
		tc_tab = n;
		tc_cap = ncap;
	}
	size_t j = (stack * 2654435761u) & (tc_cap - 1);
	while (tc_tab[j].count != 0 && tc_tab[j].stack != stack)
		j = (j + 1) & (tc_cap - 1);
	if (tc_tab[j].count == 0) {
		tc_tab[j].stack = stack;
		tc_used++;
	}
	tc_tab[j].count++;
	tc_total++;
}

__attribute__((noinline)) uint32_t nprof__threads_creating(void)
{
	if (!nprof__running || nprof__guard)
		return 0;
	int saved = errno;
	nprof__guard = 1;
	uintptr_t pcs[NPROF_MAX_FRAMES];
	int n = nprof__unwind_here(pcs, NPROF_MAX_FRAMES, 0);
	n = strip_self(pcs, n, 0);
	uint32_t id = n > 0 ? nprof__stack_intern(pcs, n) : 0;
	nprof__guard = 0;
	errno = saved;
	return id;
}

void nprof__threads_created(uint32_t creator_stack)
{
	if (!nprof__running || nprof__guard)
		return;
	int saved = errno;
	nprof__guard = 1;
	pthread_mutex_lock(&reg_lock);
	tc_add_locked(creator_stack);
	pthread_mutex_unlock(&reg_lock);
	nprof__guard = 0;
	errno = saved;
}

void nprof__threads_started(uint32_t creator_stack, pid_t creator_tid)
{
	if (!nprof__running || nprof__guard || nprof__tself != NULL)
		return;
	int saved = errno;
	nprof__guard = 1;
	register_self(creator_stack, creator_tid, 0);
	nprof__guard = 0;
	errno = saved;
}

/* ---------------------------------------------------------------- */
/* /proc                                                             */
/* ---------------------------------------------------------------- */

/* Reads file NAME of a /proc/self/task/TID directory (an O_PATH descriptor:
 * one path walk per thread, not per file) into buf, NUL-terminated.
 * Returns the length or -1. */
static ssize_t read_task_file(int tdir, const char *name, char *buf, size_t cap)
{
	int fd = openat(tdir, name, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	ssize_t n;
	do
		n = read(fd, buf, cap - 1);
	while (n < 0 && errno == EINTR);
	close(fd);
	if (n < 0)
		return -1;
	buf[n] = '\0';
	return n;
}

struct kstat {
	char name[16];
	char state;
	unsigned long long starttime;
};

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

struct ksys {
	int running;          /* "running": no consistent sample */
	long nr;              /* -1: blocked, but not in a system call */
	unsigned long long args[6];
	uintptr_t sp, pc;
};

static int parse_syscall(const char *s, struct ksys *k)
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
/* Collection                                                        */
/* ---------------------------------------------------------------- */

struct regcopy {
	pid_t tid;                  /* first: sorted and searched with cmp_tid */
	struct nprof_tent *t;
	uint32_t creator_stack;
	pid_t creator_tid;
};

static const struct regcopy *reg_find(const struct regcopy *r, size_t n, pid_t tid)
{
	return n ? bsearch(&tid, r, n, sizeof *r, cmp_tid) : NULL;
}

/* Reads an entry's wait state consistently (seqlock). */
static void read_wait(struct nprof_tent *t, pid_t tid, int *reason, int64_t *since,
		      unsigned *seq)
{
	*reason = NPROF_WAIT_NONE;
	for (int tries = 0; tries < 4; tries++) {
		unsigned s1 = atomic_load_explicit(&t->seq, memory_order_acquire);
		if (s1 & 1)
			continue;
		int r = atomic_load_explicit(&t->reason, memory_order_relaxed);
		int64_t since_ns = atomic_load_explicit(&t->since_ns, memory_order_relaxed);
		atomic_thread_fence(memory_order_acquire);
		if (atomic_load_explicit(&t->seq, memory_order_relaxed) != s1)
			continue;
		if (atomic_load_explicit(&t->tid, memory_order_relaxed) != (int)tid)
			return;
		*reason = r >= 0 && r < NPROF_WAIT_COUNT ? r : NPROF_WAIT_NONE;
		*since = since_ns;
		*seq = s1;
		return;
	}
}

static unsigned long long read_pcount(int tdir)
{
	char buf[128];
	if (read_task_file(tdir, "schedstat", buf, sizeof buf) <= 0)
		return ~0ULL;
	char *p = buf;
	strtoull(p, &p, 10);
	strtoull(p, &p, 10);
	return strtoull(p, NULL, 10);
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

/*
 * Unwinds one blocked thread; returns the stack's frame count. `t` is the
 * thread's registry entry when it waits in an interposed primitive, with
 * the wait's sequence number `seq`.
 */
static int walk_blocked(int tdir, pid_t tid, struct ksys *ks, uintptr_t *pcs, int *flags,
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
		if (read_task_file(tdir, "syscall", buf, sizeof buf) < 0 ||
		    parse_syscall(buf, &again) < 0) {
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

/* What one look at a thread found, before any unwinding. */
struct look {
	int what;                  /* LOOK_INTERNAL, LOOK_GONE, LOOK_OK */
	struct kstat kst;
	struct ksys ks;
	int have_sys;
	const struct regcopy *reg;
	int reason;                /* from the registry, read before the syscall file */
	int64_t since;
	unsigned seq;
};
enum { LOOK_INTERNAL = 1, LOOK_GONE, LOOK_OK };

/* The inputs of a first look at every thread. */
struct look_job {
	const pid_t *tids;
	size_t n;
	struct look *out;
	int taskfd;
	pid_t me;
	const struct regcopy *regs;
	size_t nregs;
};

/*
 * Reads one thread's stat and syscall files. The registry's wait state is
 * read first, so that an unchanged wait sequence after the unwinding
 * proves the thread stayed in that one wait all along.
 */
static void look_at(const struct look_job *j, pid_t tid, struct look *l)
{
	char buf[1024], tname[16];
	memset(l, 0, sizeof *l);
	if (nprof__thread_is_internal(tid)) {
		l->what = LOOK_INTERNAL;
		return;
	}
	l->reg = j->regs ? reg_find(j->regs, j->nregs, tid) : NULL;
	l->reason = NPROF_WAIT_NONE;
	if (l->reg != NULL)
		read_wait(l->reg->t, tid, &l->reason, &l->since, &l->seq);
	snprintf(tname, sizeof tname, "%d", (int)tid);
	int tdir = openat(j->taskfd, tname, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (tdir < 0 || read_task_file(tdir, "stat", buf, sizeof buf) < 0 ||
	    parse_stat(buf, &l->kst) < 0) {
		if (tdir >= 0)
			close(tdir);
		l->what = LOOK_GONE;
		return;
	}
	l->have_sys = tid != j->me && read_task_file(tdir, "syscall", buf, sizeof buf) >= 0 &&
		      parse_syscall(buf, &l->ks) == 0;
	close(tdir);
	l->what = LOOK_OK;
}

/*
 * First look at every thread, before any unwinding. Reading /proc costs
 * about 10 µs per file per thread and dominates a dump of blocked threads;
 * sharing it with helper threads was measured no faster on 2 CPUs (the
 * kernel serializes much of the lookup), so it stays on one thread.
 */
static void look_all(struct look_job *j)
{
	for (size_t i = 0; i < j->n; i++)
		look_at(j, j->tids[i], &j->out[i]);
}

int nprof__threads_collect(struct nprof_thread_set *s, int want_stacks)
{
	memset(s, 0, sizeof *s);
	int guard = nprof__guard;
	nprof__guard = 1;
	pthread_mutex_lock(&dump_lock);
	int64_t t0 = nprof__mono_ns();
	int rc = 0;
	pid_t *tids = NULL, *running = NULL;
	struct regcopy *regs = NULL;
	struct seen *nseen = NULL;
	struct look *looks = NULL;
	size_t nregs = 0, nseen_n = 0, nrunning = 0;
	int taskfd = -1;

	if (want_stacks && nprof__walk_begin() < 0)
		s->unwinder_missing = 1;
	ssize_t ntids = list_tids(&tids);
	if (ntids < 0) {
		rc = (int)ntids;
		goto out;
	}
	taskfd = open("/proc/self/task", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	s->t = nprof__arena_alloc(sizeof *s->t * (size_t)(ntids + 1));
	nseen = nprof__arena_alloc(sizeof *nseen * (size_t)(ntids + 1));
	looks = nprof__arena_alloc(sizeof *looks * (size_t)(ntids + 1));
	running = nprof__arena_alloc(sizeof *running * (size_t)(ntids + 1));
	if (taskfd < 0 || s->t == NULL || nseen == NULL || looks == NULL || running == NULL) {
		rc = taskfd < 0 ? -errno : -ENOMEM;
		goto out;
	}

	/* A copy of the registry, so that the lock is not held while reading
	 * /proc. Entries stay valid memory even if their thread exits. */
	pthread_mutex_lock(&reg_lock);
	regs = nprof__arena_alloc(sizeof *regs * (nlive + 1));
	for (struct nprof_tent *t = live; regs != NULL && t != NULL; t = t->next)
		regs[nregs++] = (struct regcopy){atomic_load(&t->tid), t, t->creator_stack,
						 t->creator_tid};
	pthread_mutex_unlock(&reg_lock);
	if (regs != NULL)
		qsort(regs, nregs, sizeof *regs, cmp_tid);

	pid_t me = nprof__gettid();
	pid_t main_tid = getpid();
	int64_t deadline = t0 + DUMP_DEADLINE_NS;
	struct look_job job = {
		.tids = tids, .n = (size_t)ntids, .out = looks, .taskfd = taskfd, .me = me,
		.regs = regs, .nregs = nregs,
	};
	look_all(&job);

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
			if (round > 0) {
				look_at(&job, tid, &again);
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
			char tname[16];
			snprintf(tname, sizeof tname, "%d", (int)tid);
			int tdir = -1;
			uintptr_t pcs[NPROF_MAX_FRAMES];
			int n = 0;
			if (tid == me) {
				if (want_stacks)
					n = nprof__unwind_here(pcs, NPROF_MAX_FRAMES, 0);
				n = strip_self(pcs, n, 0);
				snprintf(ti.wait_buf, sizeof ti.wait_buf, "running");
				ti.wait = ti.wait_buf;
				ti.flags |= NPROF_TI_SELF;
			} else if (have_sys && !ks.running && ks.nr >= 0 && ks.sp != 0 && want_stacks) {
				if (nprof__mono_ns() < deadline) {
					int f = 0;
					if (reason == NPROF_WAIT_NONE)
						tdir = openat(taskfd, tname, O_PATH | O_DIRECTORY | O_CLOEXEC);
					n = walk_blocked(tdir, tid, &ks, pcs, &f,
							 reason != NPROF_WAIT_NONE ? l->reg->t : NULL, l->seq);
					ti.flags |= f;
					n = strip_self(pcs, n, reason != NPROF_WAIT_NONE);
				} else {
					ti.flags |= NPROF_TI_NOSTACK_TIME;
				}
			} else if (have_sys && ks.running) {
				ti.flags |= NPROF_TI_NOSTACK_RUNNING;
			} else if (want_stacks) {
				ti.flags |= NPROF_TI_NOSTACK_OTHER;
			}
			if (ti.flags & NPROF_TI_GONE) {
				if (tdir >= 0)
					close(tdir);
				s->exited++;
				continue;
			}
			if (n > 0)
				ti.stack = nprof__stack_intern(pcs, n);
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
				if (tdir < 0)
					tdir = openat(taskfd, tname, O_PATH | O_DIRECTORY | O_CLOEXEC);
				unsigned long long pc_now = tdir >= 0 ? read_pcount(tdir) : ~0ULL;
				const struct seen *old = seen_find(tid);
				struct seen *ns = &nseen[nseen_n++];
				*ns = (struct seen){tid, l->kst.starttime, ks.nr, ks.sp, ks.pc, pc_now, t0};
				if (old != NULL && old->starttime == l->kst.starttime && old->nr == ks.nr &&
				    old->sp == ks.sp && old->pc == ks.pc &&
				    (pc_now == ~0ULL || old->pcount == pc_now))
					ns->first_ns = old->first_ns;
				if (ti.wait_kind == NPROF_WAITK_NONE) {
					ti.wait_kind = NPROF_WAITK_SEEN_SINCE;
					ti.wait_ns = t0 - ns->first_ns;
				}
			}
			if (tdir >= 0)
				close(tdir);
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
	}
	/* The seen table is rebuilt from this dump: threads that are gone
	 * drop out. It must stay sorted by tid for lookups. */
	qsort(nseen, nseen_n, sizeof *nseen, cmp_tid);
	nprof__arena_free(seen_tab);
	seen_tab = nseen;
	seen_n = nseen_n;
	nseen = NULL;
out:
	s->elapsed_ns = nprof__mono_ns() - t0;
	s->time_ns = t0;
	if (taskfd >= 0)
		close(taskfd);
	nprof__arena_free(tids);
	nprof__arena_free(regs);
	nprof__arena_free(nseen);
	nprof__arena_free(looks);
	nprof__arena_free(running);
	pthread_mutex_unlock(&dump_lock);
	nprof__guard = guard;
	if (rc < 0)
		set_free(s);
	return rc;
}

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
		nprof__buf_printf(b, "%s(...)\n\t%s", fn, f[i].file[0] ? f[i].file : "?");
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
	nprof__buf_printf(b, "# nprof: %zu threads collected in %.1f ms\n", s->n,
			  (double)s->elapsed_ns / 1e6);
	if (s->unwinder_missing)
		nprof__buf_printf(b, "# nprof: no unwind information available; stacks hold the "
				  "blocked call only\n");
}

/* debug=2: one block per thread, as Go's full goroutine dump. */
static void write_debug2(struct nprof_buf *b, const struct nprof_thread_set *s)
{
	struct symc c;
	symc_open(&c);
	for (size_t i = 0; i < s->n; i++) {
		const struct nprof_thread_info *ti = &s->t[i];
		char w[96];
		fmt_wait(ti, w, sizeof w);
		nprof__buf_printf(b, "thread %d \"", (int)ti->tid);
		for (const char *p = ti->name; *p; p++)
			nprof__buf_putc(b, *p == '"' || *p == '\\' || (unsigned char)*p < 32 ? '?' : *p);
		nprof__buf_printf(b, "\" [%s]:\n", w);
		int n = 0;
		const uintptr_t *pcs = nprof__stack_get(ti->stack, &n);
		for (int k = 0; k < n; k++)
			put_frames2(b, &c, pcs[k]);
		const char *note = stack_note(ti->flags);
		if (note != NULL)
			nprof__buf_printf(b, "\t(%s)\n", note);
		int cn = 0;
		const uintptr_t *cpcs = nprof__stack_get(ti->creator_stack, &cn);
		if (cn > 0) {
			const struct nprof_frame *f;
			int fn = symc_lookup(&c, cpcs[0] - 1, &f);
			/* The innermost source frame is the call of pthread_create
			 * (inside an inlined function, that function's name). */
			nprof__buf_printf(b, "created by %s in thread %d\n",
					  fn > 0 && f[0].function[0] ? f[0].function : "??",
					  (int)ti->creator_tid);
			if (fn > 0)
				nprof__buf_printf(b, "\t%s:%d +0x%" PRIxPTR "\n",
						  f[0].file[0] ? f[0].file : "?", f[0].line,
						  f[fn - 1].symoff);
			else
				nprof__buf_printf(b, "\t0x%" PRIxPTR "\n", cpcs[0]);
		} else if (!ti->is_main && !ti->known_creator) {
			nprof__buf_printf(b, "created by ? (before nprof started, or not through "
					  "pthread_create)\n");
		}
		nprof__buf_putc(b, '\n');
	}
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
static size_t make_groups(const struct nprof_thread_set *s, int by_name, struct group **out)
{
	size_t cap = 16;
	while (cap < s->n * 2 + 2)
		cap *= 2;
	struct group *tab = nprof__arena_alloc(sizeof *tab * cap);
	struct group *g = nprof__arena_alloc(sizeof *g * (s->n + 1));
	size_t ng = 0;
	if (tab == NULL || g == NULL) {
		nprof__arena_free(tab);
		nprof__arena_free(g);
		*out = NULL;
		return 0;
	}
	for (size_t i = 0; i < s->n; i++) {
		const struct nprof_thread_info *ti = &s->t[i];
		const char *w = ti->wait ? ti->wait : "";
		const char *nm = by_name ? ti->name : NULL;
		uint64_t h = ti->stack * 0x9e3779b97f4a7c15ULL;
		for (const char *p = w; *p; p++)
			h = (h ^ (unsigned char)*p) * 0x100000001b3ULL;
		for (const char *p = nm; p && *p; p++)
			h = (h ^ (unsigned char)*p) * 0x100000001b3ULL;
		size_t j = (size_t)(h >> 20) & (cap - 1);
		for (;; j = (j + 1) & (cap - 1)) {
			if (tab[j].count == 0) {
				tab[j] = (struct group){ti->stack, w, nm, ti->flags, 0};
				break;
			}
			if (tab[j].stack == ti->stack && strcmp(tab[j].wait, w) == 0 &&
			    (!by_name || strcmp(tab[j].name, nm) == 0))
				break;
		}
		tab[j].count++;
	}
	for (size_t j = 0; j < cap; j++)
		if (tab[j].count != 0)
			g[ng++] = tab[j];
	nprof__arena_free(tab);
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

static void put_json_str(struct nprof_buf *b, const char *s)
{
	nprof__buf_putc(b, '"');
	for (; *s; s++) {
		if (*s == '"' || *s == '\\')
			nprof__buf_putc(b, '\\');
		if ((unsigned char)*s < 32)
			nprof__buf_printf(b, "\\u%04x", (unsigned char)*s);
		else
			nprof__buf_putc(b, *s);
	}
	nprof__buf_putc(b, '"');
}

static void write_debug1(struct nprof_buf *b, const struct nprof_thread_set *s)
{
	struct group *g;
	size_t ng = make_groups(s, 0, &g);
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
		put_json_str(b, g[i].wait);
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
/* Handlers                                                          */
/* ---------------------------------------------------------------- */

static void reply_oom(struct nprof_reply *rep)
{
	nprof__buf_free(&rep->body);
	nprof__reply_error(rep, 503, "nprof: out of memory building the thread profile");
}

static void write_proto(struct nprof_reply *rep, const struct nprof_thread_set *s)
{
	static const struct nprof_value_type types[] = {{"goroutine", "count"}};
	char comment[160];
	snprintf(comment, sizeof comment,
		 "nprof threads: %zu listed, %zu exited during the dump, %zu without stack, "
		 "%zu possibly torn", s->n, s->exited, s->no_stack, s->torn);
	struct nprof_profile_desc d = {
		.sample_types = types, .n_sample_types = 1,
		.period_type = {"goroutine", "count"}, .period = 1,
		.time_nanos = 0, .duration_nanos = 0, .comment = comment,
	};
	struct timespec now;
	clock_gettime(CLOCK_REALTIME, &now);
	d.time_nanos = (int64_t)now.tv_sec * 1000000000LL + now.tv_nsec;
	struct group *g;
	size_t ng = make_groups(s, 1, &g);
	struct nprof_pb *pb = nprof__pb_new(&d);
	if (pb == NULL || (g == NULL && s->n > 0)) {
		nprof__pb_free(pb);
		nprof__arena_free(g);
		reply_oom(rep);
		return;
	}
	int rc = 0;
	for (size_t i = 0; i < ng && rc == 0; i++) {
		int n = 0;
		const uintptr_t *pcs = nprof__stack_get(g[i].stack, &n);
		struct nprof_label l[2] = {
			{.key = "wait", .str = g[i].wait},
			{.key = "thread", .str = g[i].name},
		};
		int64_t v = g[i].count;
		rc = nprof__pb_add(pb, pcs, n, &v, l, 2);
	}
	nprof__arena_free(g);
	if (rc < 0) {
		nprof__pb_free(pb);
		reply_oom(rep);
		return;
	}
	if (nprof__pb_finish(pb, &rep->body) < 0) {
		reply_oom(rep);
		return;
	}
	rep->content_type = "application/octet-stream";
	rep->attachment = "goroutine";
}

void nprof__threads_handle(const struct nprof_req *req, struct nprof_reply *rep)
{
	struct nprof_thread_set s;
	int rc = nprof__threads_collect(&s, 1);
	if (rc < 0) {
		nprof__reply_error(rep, 500, "nprof: cannot list the threads: %s", strerror(-rc));
		return;
	}
	if (req->debug == 0)
		write_proto(rep, &s);
	else if (req->debug == 1)
		write_debug1(&rep->body, &s);
	else
		write_debug2(&rep->body, &s);
	nprof__threads_set_free(&s);
	if (rep->body.failed)
		reply_oom(rep);
}

void nprof__threadcreate_handle(const struct nprof_req *req, struct nprof_reply *rep)
{
	int guard = nprof__guard;
	nprof__guard = 1;
	/* A copy, so that symbolizing does not hold the lock. */
	pthread_mutex_lock(&reg_lock);
	size_t n = 0;
	struct tc_ent *copy = nprof__arena_alloc(sizeof *copy * (tc_used + 1));
	int64_t total = tc_total;
	for (size_t i = 0; copy != NULL && i < tc_cap; i++)
		if (tc_tab[i].count != 0)
			copy[n++] = tc_tab[i];
	pthread_mutex_unlock(&reg_lock);
	if (copy == NULL) {
		reply_oom(rep);
		nprof__guard = guard;
		return;
	}
	/* Largest first, as Go prints count profiles. */
	struct group *g = nprof__arena_alloc(sizeof *g * (n + 1));
	for (size_t i = 0; g != NULL && i < n; i++)
		g[i] = (struct group){copy[i].stack, "", NULL, 0, copy[i].count};
	nprof__arena_free(copy);
	if (g == NULL) {
		reply_oom(rep);
		nprof__guard = guard;
		return;
	}
	qsort(g, n, sizeof *g, cmp_group);
	if (req->debug >= 1) {
		struct symc c;
		symc_open(&c);
		nprof__buf_printf(&rep->body, "threadcreate profile: total %" PRId64 "\n", total);
		for (size_t i = 0; i < n; i++) {
			int np = 0;
			const uintptr_t *pcs = nprof__stack_get(g[i].stack, &np);
			nprof__buf_printf(&rep->body, "%" PRId64 " @", g[i].count);
			for (int k = 0; k < np; k++)
				nprof__buf_printf(&rep->body, " 0x%" PRIxPTR, pcs[k]);
			nprof__buf_putc(&rep->body, '\n');
			put_stack1(&rep->body, &c, pcs, np);
			nprof__buf_putc(&rep->body, '\n');
		}
		symc_close(&c);
		if (rep->body.failed)
			reply_oom(rep);
	} else {
		static const struct nprof_value_type types[] = {{"threadcreate", "count"}};
		struct timespec now;
		clock_gettime(CLOCK_REALTIME, &now);
		struct nprof_profile_desc d = {
			.sample_types = types, .n_sample_types = 1,
			.period_type = {"threadcreate", "count"}, .period = 1,
			.time_nanos = (int64_t)now.tv_sec * 1000000000LL + now.tv_nsec,
		};
		struct nprof_pb *pb = nprof__pb_new(&d);
		int rc = pb == NULL ? -ENOMEM : 0;
		for (size_t i = 0; i < n && rc == 0; i++) {
			int np = 0;
			const uintptr_t *pcs = nprof__stack_get(g[i].stack, &np);
			rc = nprof__pb_add(pb, pcs, np, &g[i].count, NULL, 0);
		}
		if (rc < 0) {
			nprof__pb_free(pb);
			reply_oom(rep);
		} else if (nprof__pb_finish(pb, &rep->body) < 0) {
			reply_oom(rep);
		} else {
			rep->content_type = "application/octet-stream";
			rep->attachment = "threadcreate";
		}
	}
	nprof__arena_free(g);
	nprof__guard = guard;
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

long nprof__threadcreate_count(void)
{
	pthread_mutex_lock(&reg_lock);
	long n = (long)tc_total;
	pthread_mutex_unlock(&reg_lock);
	return n;
}

/* ---------------------------------------------------------------- */
/* NPROF_DUMP_SIGNAL                                                 */
/* ---------------------------------------------------------------- */

static int dump_pipe[2] = {-1, -1};

/* Async-signal-safe: one write to a non-blocking pipe. A full pipe means
 * a dump is already pending; the byte is not needed. */
static void dump_signal_handler(int sig)
{
	(void)sig;
	int saved = errno;
	char c = 1;
	ssize_t w = write(dump_pipe[1], &c, 1);
	(void)w;
	errno = saved;
}

/* Writes a whole buffer to stderr. */
static void write_stderr(const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(STDERR_FILENO, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return;
		p += w;
		n -= (size_t)w;
	}
}

static void *dump_thread(void *unused)
{
	(void)unused;
	char c[64];
	for (;;) {
		ssize_t r = read(dump_pipe[0], c, sizeof c);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return NULL;
		if (!nprof__running)
			continue;
		struct nprof_buf b = {0};
		struct nprof_thread_set s;
		nprof__buf_printf(&b, "nprof: thread dump of pid %d (signal %d)\n\n", (int)getpid(),
				  nprof__cfg.dump_signal);
		if (nprof__threads_collect(&s, 1) == 0) {
			write_debug2(&b, &s);
			nprof__threads_set_free(&s);
		} else {
			nprof__buf_printf(&b, "nprof: cannot list the threads\n");
		}
		if (b.failed)
			nprof__buf_printf(&b, "\nnprof: (dump incomplete: out of memory)\n");
		write_stderr(b.data ? b.data : "", b.len);
		nprof__buf_free(&b);
	}
}

static void start_dump_signal(void)
{
	int sig = nprof__cfg.dump_signal;
	if (sig <= 0 || dump_pipe[0] >= 0)
		return;
	if (pipe2(dump_pipe, O_CLOEXEC) != 0) {
		nprof__log("NPROF_DUMP_SIGNAL: pipe: %s; dumps off", strerror(errno));
		return;
	}
	fcntl(dump_pipe[1], F_SETFL, O_NONBLOCK);
	/* Created with the guard up, the thread is one of nprof's own: all
	 * signals blocked, never listed in dumps. */
	pthread_t t;
	pthread_attr_t a;
	pthread_attr_init(&a);
	pthread_attr_setdetachstate(&a, PTHREAD_CREATE_DETACHED);
	int rc = pthread_create(&t, &a, dump_thread, NULL);
	pthread_attr_destroy(&a);
	if (rc != 0) {
		nprof__log("NPROF_DUMP_SIGNAL: cannot start the dump thread: %s; dumps off",
			   strerror(rc));
		close(dump_pipe[0]);
		close(dump_pipe[1]);
		dump_pipe[0] = dump_pipe[1] = -1;
		return;
	}
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = dump_signal_handler;
	sa.sa_flags = SA_RESTART;
	sigemptyset(&sa.sa_mask);
	nprof__real_sigaction(sig, &sa, NULL);
}

/* ---------------------------------------------------------------- */
/* Life cycle                                                        */
/* ---------------------------------------------------------------- */

void nprof__threads_init(void)
{
	dl_iterate_phdr(find_self_range, NULL);
	pthread_once(&key_once, make_key);
	/* A first look at every thread starts the "seen since" clocks now
	 * rather than at the first request. */
	struct nprof_thread_set s;
	if (nprof__threads_collect(&s, 0) == 0)
		nprof__threads_set_free(&s);
	start_dump_signal();
}

void nprof__threads_prefork(void)
{
	pthread_mutex_lock(&reg_lock);
}

void nprof__threads_postfork(int child)
{
	if (!child) {
		pthread_mutex_unlock(&reg_lock);
		return;
	}
	/* Only the forking thread exists in the child: forget every entry
	 * (their threads are gone) and every lock a vanished thread held. */
	pthread_mutex_t fresh = PTHREAD_MUTEX_INITIALIZER;
	reg_lock = fresh;
	dump_lock = fresh;
	live = NULL;
	free_list = NULL;
	nlive = 0;
	nprof__tself = NULL;
	if (key_ok)
		pthread_setspecific(exit_key, NULL);
	seen_tab = NULL;
	seen_n = 0;
	nprof__walk_forget();
	if (dump_pipe[0] >= 0) {
		/* The dump thread does not exist here. */
		close(dump_pipe[0]);
		close(dump_pipe[1]);
		dump_pipe[0] = dump_pipe[1] = -1;
	}
}
