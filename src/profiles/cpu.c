/*
 * cpu.c - the CPU profile: /debug/pprof/profile?seconds=N.
 *
 * Each thread gets its own POSIX timer on its CPU-time clock
 * (CLOCK_THREAD_CPUTIME_ID of that thread), delivering SIGPROF to that very
 * thread (SIGEV_THREAD_ID). Unlike setitimer(ITIMER_PROF), whose signal
 * goes to whichever thread the kernel picks, this charges each sample to
 * the thread that burnt the CPU, and an idle thread never fires. Threads
 * that existed before nprof are found in /proc/self/task (a thread's CPU
 * clock id is computable from its tid); threads created during a profile
 * arm their own timer from the pthread_create wrapper.
 *
 * The handler (SA_RESTART, so interrupted calls that can restart do) walks
 * the stack with libunwind and appends it to a log: one MAP_NORESERVE
 * mapping, a slot reserved with one atomic add. No lock, no malloc. When
 * the log is full, samples are dropped and counted.
 *
 * Teardown must never let a stray SIGPROF reach SIG_DFL, which kills the
 * process ("Profiling timer expired"): timers are deleted, in-flight
 * handlers drained, then the disposition goes through SIG_IGN (which
 * discards any SIGPROF still pending on a thread that blocks it) before the
 * original one is restored.
 *
 * If the program has its own SIGPROF handler, the profile is refused with
 * 409. If it installs one during a profile, nprof__cpu_sigprof_taken()
 * (called from the sigaction override) stops the profile first.
 *
 * Locking: cpu_lock guards the timer table and is taken by the HTTP thread
 * and by starting threads, never by the handler. One profile at a time
 * (cpu_busy, a compare-and-swap: the second request gets 409 at once).
 */
#include "arena.h"
#include "base.h"
#include "buf.h"
#include "cpu.h"
#include "pprof.h"
#include "profile.h"
#include "stacks.h"

#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define LOG_BYTES ((size_t)64 << 20)   /* virtual; pages touched on use */
#define DEFAULT_SECONDS 30

struct timer_slot {
	pid_t tid;
	timer_t timer;
};

static atomic_int cpu_busy;              /* a profile request is running */
static atomic_int cpu_active;            /* handlers record */
static atomic_int in_handler;            /* handlers now running */
static atomic_int program_took_sigprof;  /* set by the sigaction override */
static atomic_size_t log_off;
static atomic_long dropped_total;
static char *sample_log;                 /* LOG_BYTES, mapped once */

static pthread_mutex_t cpu_lock = PTHREAD_MUTEX_INITIALIZER;
static struct timer_slot *timers;        /* arena, grows */
static size_t ntimers, cap_timers;
static long interval_ns;

/* The CPU-time clock of any thread of this process (Linux ABI, as glibc's
 * MAKE_THREAD_CPUCLOCK): lets us arm timers for threads we did not start. */
static clockid_t thread_cpu_clock(pid_t tid)
{
	return (clockid_t)((~(unsigned)tid << 3) | 6);
}

static void sigprof_handler(int sig, siginfo_t *si, void *uc)
{
	(void)sig;
	int saved = errno;
	atomic_fetch_add_explicit(&in_handler, 1, memory_order_acquire);
	if (atomic_load_explicit(&cpu_active, memory_order_acquire) && si->si_code == SI_TIMER) {
		uintptr_t pcs[NPROF_MAX_FRAMES];
		int n = nprof__unwind_signal_sigsafe(uc, pcs, NPROF_MAX_FRAMES);
		size_t need = sizeof(uint64_t) * (size_t)(n + 1);
		size_t off = atomic_fetch_add_explicit(&log_off, need, memory_order_relaxed);
		if (off + need <= LOG_BYTES) {
			uint64_t *rec = (uint64_t *)(sample_log + off);
			rec[0] = (uint64_t)n;
			memcpy(rec + 1, pcs, sizeof(uint64_t) * (size_t)n);
		} else {
			atomic_fetch_add_explicit(&dropped_total, 1, memory_order_relaxed);
		}
	}
	atomic_fetch_sub_explicit(&in_handler, 1, memory_order_release);
	errno = saved;
}

/* Arms a CPU timer for `tid`; cpu_lock held. */
static void arm_locked(pid_t tid)
{
	for (size_t i = 0; i < ntimers; i++)
		if (timers[i].tid == tid)
			return;
	if (ntimers == cap_timers) {
		size_t ncap = cap_timers ? cap_timers * 2 : 64;
		struct timer_slot *t = nprof__arena_realloc(timers, ncap * sizeof *t);
		if (t == NULL) {
			atomic_fetch_add(&dropped_total, 1);
			return;
		}
		timers = t;
		cap_timers = ncap;
	}
	struct sigevent sev;
	memset(&sev, 0, sizeof sev);
	sev.sigev_notify = SIGEV_THREAD_ID;
	sev.sigev_signo = SIGPROF;
	sev._sigev_un._tid = tid;
	timer_t t;
	if (timer_create(thread_cpu_clock(tid), &sev, &t) != 0) {
		static atomic_int warned;
		if (atomic_exchange(&warned, 1) == 0)
			nprof__log("timer_create for thread %d failed: %s; that thread is not "
				   "sampled", (int)tid, strerror(errno));
		return;
	}
	struct itimerspec its = {
		.it_interval = {interval_ns / 1000000000L, interval_ns % 1000000000L},
		.it_value = {interval_ns / 1000000000L, interval_ns % 1000000000L},
	};
	timer_settime(t, 0, &its, NULL);
	timers[ntimers].tid = tid;
	timers[ntimers].timer = t;
	ntimers++;
}

void nprof__cpu_thread_start(void)
{
	if (!atomic_load_explicit(&cpu_active, memory_order_acquire))
		return;
	int guard = nprof__guard;
	nprof__guard = 1;
	pthread_mutex_lock(&cpu_lock);
	if (atomic_load(&cpu_active))
		arm_locked(nprof__gettid());
	pthread_mutex_unlock(&cpu_lock);
	nprof__guard = guard;
}

/* Arms timers for every thread of the process except nprof's own. */
static void arm_all(void)
{
	DIR *d = opendir("/proc/self/task");
	if (d == NULL)
		return;
	pthread_mutex_lock(&cpu_lock);
	struct dirent *e;
	while ((e = readdir(d)) != NULL) {
		pid_t tid = (pid_t)atoi(e->d_name);
		if (tid > 0 && !nprof__thread_is_internal(tid))
			arm_locked(tid);
	}
	pthread_mutex_unlock(&cpu_lock);
	closedir(d);
}

/* Stops sampling and deletes every timer; waits for running handlers. */
static void disarm_all(void)
{
	atomic_store_explicit(&cpu_active, 0, memory_order_release);
	pthread_mutex_lock(&cpu_lock);
	for (size_t i = 0; i < ntimers; i++)
		timer_delete(timers[i].timer);
	ntimers = 0;
	pthread_mutex_unlock(&cpu_lock);
	while (atomic_load_explicit(&in_handler, memory_order_acquire) > 0)
		sched_yield();
}

static int is_ours(const struct sigaction *sa)
{
	return (sa->sa_flags & SA_SIGINFO) && sa->sa_sigaction == sigprof_handler;
}

void nprof__cpu_sigprof_taken(void)
{
	atomic_store(&program_took_sigprof, 1);
	if (!atomic_load(&cpu_active))
		return;
	disarm_all();
	/* Discard any SIGPROF still pending before the program's own
	 * disposition takes over. */
	struct sigaction ign;
	memset(&ign, 0, sizeof ign);
	ign.sa_handler = SIG_IGN;
	nprof__real_sigaction(SIGPROF, &ign, NULL);
}

void nprof__cpu_forget(void)
{
	/* Timers are not inherited by fork; the child just must not believe a
	 * profile runs, and must not inherit a lock held by a dead thread. */
	pthread_mutex_t fresh = PTHREAD_MUTEX_INITIALIZER;
	cpu_lock = fresh;
	atomic_store(&cpu_active, 0);
	atomic_store(&cpu_busy, 0);
	atomic_store(&in_handler, 0);
	ntimers = 0;
}

/* Identical stacks merged into one sample with a count. */
struct agg {
	uint64_t hash;
	const uint64_t *rec;     /* points into the log: n, pcs... */
	int64_t count;
};

static uint64_t hash_rec(const uint64_t *rec)
{
	uint64_t h = 1469598103934665603ULL;
	for (uint64_t i = 0; i <= rec[0]; i++)
		h = (h ^ rec[i]) * 1099511628211ULL;
	return h | 1;
}

static void build_profile(size_t used, int64_t start_ns, int64_t dur_ns, struct nprof_reply *rep)
{
	static const struct nprof_value_type types[] = {
		{"samples", "count"}, {"cpu", "nanoseconds"},
	};
	struct nprof_profile_desc d = {
		.sample_types = types, .n_sample_types = 2,
		.period_type = {"cpu", "nanoseconds"}, .period = interval_ns,
		.time_nanos = start_ns, .duration_nanos = dur_ns,
	};
	size_t nrec = 0;
	for (size_t off = 0; off < used; nrec++)
		off += sizeof(uint64_t) * (((const uint64_t *)(sample_log + off))[0] + 1);
	size_t cap = 64;
	while (cap < nrec * 2)
		cap *= 2;
	struct agg *tab = nprof__arena_alloc(cap * sizeof *tab);
	struct nprof_pb *pb = nprof__pb_new(&d);
	if (tab == NULL || pb == NULL) {
		nprof__arena_free(tab);
		nprof__pb_free(pb);
		nprof__reply_error(rep, 503, "nprof: out of memory building the CPU profile");
		return;
	}
	for (size_t off = 0; off < used;) {
		const uint64_t *rec = (const uint64_t *)(sample_log + off);
		off += sizeof(uint64_t) * (rec[0] + 1);
		uint64_t h = hash_rec(rec);
		size_t i = h & (cap - 1);
		while (tab[i].hash != 0 && !(tab[i].hash == h && tab[i].rec[0] == rec[0] &&
					    memcmp(tab[i].rec, rec, sizeof(uint64_t) * (rec[0] + 1)) == 0))
			i = (i + 1) & (cap - 1);
		if (tab[i].hash == 0) {
			tab[i].hash = h;
			tab[i].rec = rec;
		}
		tab[i].count++;
	}
	int rc = 0;
	for (size_t i = 0; i < cap && rc == 0; i++) {
		if (tab[i].hash == 0)
			continue;
		int64_t v[2] = {tab[i].count, tab[i].count * interval_ns};
		rc = nprof__pb_add(pb, (const uintptr_t *)(tab[i].rec + 1), (int)tab[i].rec[0], v,
				   NULL, 0);
	}
	nprof__arena_free(tab);
	if (rc < 0 || nprof__pb_finish(pb, &rep->body) < 0) {
		if (rc < 0)
			nprof__pb_free(pb);
		nprof__buf_free(&rep->body);
		nprof__reply_error(rep, 503, "nprof: out of memory building the CPU profile");
		return;
	}
	rep->content_type = "application/octet-stream";
	rep->attachment = "profile";
}

static int64_t now_ns(clockid_t clk)
{
	struct timespec ts;
	clock_gettime(clk, &ts);
	return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

void nprof__cpu_handle(const struct nprof_req *req, struct nprof_reply *rep)
{
	int expect = 0;
	if (!atomic_compare_exchange_strong(&cpu_busy, &expect, 1)) {
		nprof__reply_error(rep, 409, "nprof: a CPU profile is already running; try again "
			       "when it ends");
		return;
	}
	struct sigaction old, ours;
	nprof__real_sigaction(SIGPROF, NULL, &old);
	if (!is_ours(&old) && old.sa_handler != SIG_DFL && old.sa_handler != SIG_IGN) {
		nprof__reply_error(rep, 409, "nprof: the program installed its own SIGPROF handler "
			       "(%p); CPU profiling refused so as not to disturb it",
			       (old.sa_flags & SA_SIGINFO) ? (void *)old.sa_sigaction
							  : (void *)old.sa_handler);
		goto out;
	}
	if (sample_log == NULL) {
		void *p = mmap(NULL, LOG_BYTES, PROT_READ | PROT_WRITE,
			       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
		if (p == MAP_FAILED) {
			nprof__reply_error(rep, 503, "nprof: cannot map the CPU sample log: %s",
				       strerror(errno));
			goto out;
		}
		sample_log = p;
	}
	int seconds = req->seconds > 0 ? req->seconds : DEFAULT_SECONDS;
	interval_ns = 1000000000L / nprof__cfg.cpu_hz;
	atomic_store(&log_off, 0);
	atomic_store(&program_took_sigprof, 0);

	memset(&ours, 0, sizeof ours);
	ours.sa_sigaction = sigprof_handler;
	ours.sa_flags = SA_SIGINFO | SA_RESTART;
	sigemptyset(&ours.sa_mask);
	nprof__real_sigaction(SIGPROF, &ours, NULL);

	int64_t start = now_ns(CLOCK_REALTIME), t0 = now_ns(CLOCK_MONOTONIC);
	atomic_store_explicit(&cpu_active, 1, memory_order_release);
	arm_all();

	int64_t end = t0 + (int64_t)seconds * 1000000000LL;
	int gone = 0;
	for (;;) {
		int64_t left = end - now_ns(CLOCK_MONOTONIC);
		if (left <= 0 || atomic_load(&program_took_sigprof))
			break;
		if (req->client_gone(req)) {
			gone = 1;
			break;
		}
		int64_t step = left < 100000000 ? left : 100000000;
		struct timespec ts = {0, (long)step};
		nanosleep(&ts, NULL);
	}
	int64_t dur = now_ns(CLOCK_MONOTONIC) - t0;
	if (atomic_load(&program_took_sigprof)) {
		nprof__reply_error(rep, 409, "nprof: the program installed its own SIGPROF "
			       "handler during the profile; profile abandoned");
		goto out;
	}
	disarm_all();
	struct sigaction ign;
	memset(&ign, 0, sizeof ign);
	ign.sa_handler = SIG_IGN;
	nprof__real_sigaction(SIGPROF, &ign, NULL);
	if (!is_ours(&old))
		nprof__real_sigaction(SIGPROF, &old, NULL);
	if (gone) {
		nprof__reply_error(rep, 499, "nprof: client closed the connection; profile stopped");
		goto out;
	}
	size_t used = atomic_load(&log_off);
	if (used > LOG_BYTES) {
		/* The last reservation overflowed; find the end of the complete
		 * records (each was written only when it fitted). */
		size_t off = 0;
		while (off < LOG_BYTES) {
			size_t next = off + sizeof(uint64_t) * (((uint64_t *)(sample_log + off))[0] + 1);
			if (next > LOG_BYTES || ((uint64_t *)(sample_log + off))[0] == 0)
				break;
			off = next;
		}
		used = off;
	}
	build_profile(used, start, dur, rep);
	/* Give the touched log pages back; the mapping stays for next time. */
	madvise(sample_log, LOG_BYTES, MADV_DONTNEED);
out:
	atomic_store(&cpu_busy, 0);
}

/* Samples dropped because the log was full, for /metrics. */
long nprof__cpu_dropped(void)
{
	return atomic_load(&dropped_total);
}
