/*
 * self.c - this process and thread as nprof sees them: the log line, the
 * cached thread id, the hook guard, whether nprof runs here, which of the
 * process's threads are nprof's own, and the real sigaction.
 *
 * These sit at the bottom because every layer needs them: a hook asks
 * whether it runs inside nprof (nprof__guard), a profile whether a thread
 * is nprof's own, the server logs. Nothing here allocates or locks:
 * nprof__log is one write(2); the internal-thread table is a fixed array of
 * atomics; nprof__gettid and nprof__thread_is_internal are safe in a
 * signal handler.
 */
#include "base.h"

#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

volatile int nprof__running;
pid_t nprof__owner_pid;
NPROF_TLS int nprof__guard;

static NPROF_TLS pid_t cached_tid;

/*
 * One line on stderr. Values quoted from the environment may hold
 * newlines or terminal escapes: every control byte (and DEL) is written as
 * \n, \t or \xNN, so a message stays one line and prints nothing raw.
 */
void nprof__log(const char *fmt, ...)
{
	char msg[512], line[600];
	int saved = errno;
	va_list ap;
	va_start(ap, fmt);
	int m = vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	if (m < 0)
		m = 0;
	if ((size_t)m >= sizeof msg)
		m = (int)sizeof msg - 1;
	size_t n = (size_t)snprintf(line, sizeof line, "nprof: ");
	for (int i = 0; i < m && n + 5 < sizeof line; i++) {
		unsigned char ch = (unsigned char)msg[i];
		if (ch >= 0x20 && ch != 0x7f) {
			line[n++] = (char)ch;
		} else if (ch == '\n' || ch == '\t') {
			line[n++] = '\\';
			line[n++] = ch == '\n' ? 'n' : 't';
		} else {
			n += (size_t)snprintf(line + n, sizeof line - n, "\\x%02x", ch);
		}
	}
	line[n++] = '\n';
	ssize_t w = write(STDERR_FILENO, line, n);
	(void)w;
	errno = saved;
}

pid_t nprof__gettid(void)
{
	if (NPROF_UNLIKELY(cached_tid == 0))
		cached_tid = (pid_t)syscall(SYS_gettid);
	return cached_tid;
}


/* nprof's own threads: a handful (listeners, connection threads). */
#define MAX_INTERNAL 256
static atomic_int internal_tids[MAX_INTERNAL];
/* Slots [0, internal_hw) have ever been used: a dump asks about each of
 * ten thousand threads, and scanning 256 slots each time was 2.5 million
 * loads per dump for the handful of threads nprof has. */
static atomic_int internal_hw;

void nprof__block_signals(void *old_sigset)
{
	sigset_t all;
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, old_sigset);
}

void nprof__thread_mark_internal(void)
{
	nprof__guard = 1;
	nprof__block_signals(NULL);
	/* Named so that a user's `top -H` or thread dump says whose it is. */
	prctl(PR_SET_NAME, "nprof", 0, 0, 0);
	pid_t tid = nprof__gettid();
	for (int i = 0; i < MAX_INTERNAL; i++) {
		int expect = 0;
		if (atomic_compare_exchange_strong(&internal_tids[i], &expect, (int)tid)) {
			int hw = atomic_load(&internal_hw);
			while (hw < i + 1 && !atomic_compare_exchange_weak(&internal_hw, &hw, i + 1))
				;
			return;
		}
	}
}

int nprof__thread_is_internal(pid_t tid)
{
	int hw = atomic_load_explicit(&internal_hw, memory_order_acquire);
	for (int i = 0; i < hw; i++)
		if (atomic_load_explicit(&internal_tids[i], memory_order_relaxed) == (int)tid)
			return 1;
	return 0;
}

int nprof__thread_internal_live(pid_t *out, int max)
{
	int n = 0, saved = errno;
	pid_t pid = getpid();
	int hw = atomic_load_explicit(&internal_hw, memory_order_acquire);
	for (int i = 0; i < hw && n < max; i++) {
		int tid = atomic_load_explicit(&internal_tids[i], memory_order_relaxed);
		if (tid != 0 && syscall(SYS_tgkill, pid, tid, 0) == 0)
			out[n++] = (pid_t)tid;
	}
	errno = saved;
	return n;
}

void nprof__thread_unmark_internal(void *unused)
{
	(void)unused;
	pid_t tid = nprof__gettid();
	for (int i = 0; i < MAX_INTERNAL; i++) {
		int expect = (int)tid;
		if (atomic_compare_exchange_strong(&internal_tids[i], &expect, 0))
			return;
	}
}


/*
 * The real sigaction, bypassing nprof's override (hooks/preload.c), for
 * the CPU profile and the dump signal, which install their own handlers.
 * Resolved on first use with the hook guard raised: dlsym may allocate.
 */
int nprof__real_sigaction(int sig, const void *act, void *old)
{
	typedef int (*sigaction_fn)(int, const struct sigaction *, struct sigaction *);
	static sigaction_fn real;
	sigaction_fn fn = __atomic_load_n(&real, __ATOMIC_ACQUIRE);
	if (fn == NULL) {
		int guard = nprof__guard;
		nprof__guard = 1;
		fn = (sigaction_fn)dlsym(RTLD_NEXT, "sigaction");
		nprof__guard = guard;
		__atomic_store_n(&real, fn, __ATOMIC_RELEASE);
	}
	return fn(sig, act, old);
}

/* In a forked child: the cached thread id is the parent's; forget it. */
void nprof__self_postfork_child(void)
{
	cached_tid = 0;
}
