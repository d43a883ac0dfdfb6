/*
 * preload.c - the libc functions nprof overrides for threads and signals,
 * and the bootstrap that finds the real ones.
 *
 * pthread_create: every new thread starts through a small trampoline that
 * registers it with the threads profile (its creator's stack is captured
 * in the creating thread), arms its CPU timer when a profile runs and marks nprof's own threads
 * (those created while the creator's hook guard is up, e.g. by
 * libmicrohttpd) as internal: their allocations pass through unrecorded and
 * they are never sampled.
 *
 * sigaction/signal: when the program takes SIGPROF for itself during a CPU
 * profile, nprof stops its timers before the program's disposition takes
 * effect, so no stray profiling signal reaches a handler that does not
 * expect it, or SIG_DFL, which would kill the process.
 *
 * Each override saves and restores errno around nprof's own work and never
 * fails visibly: when nprof cannot do its part, the call goes straight to
 * libc.
 */
#include "arena.h"
#include "base.h"
#include "cpu.h"
#include "hooks.h"
#include "threads.h"

#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/prctl.h>

typedef int (*pthread_create_fn)(pthread_t *, const pthread_attr_t *, void *(*)(void *), void *);
typedef int (*sigaction_fn)(int, const struct sigaction *, struct sigaction *);
typedef sighandler_t (*signal_fn)(int, sighandler_t);

static pthread_create_fn real_pthread_create;
static sigaction_fn real_sigaction;
static signal_fn real_signal;

void nprof__preload_init(void)
{
	if (real_pthread_create != NULL)
		return;
	int guard = nprof__guard;
	nprof__guard = 1;
	real_sigaction = (sigaction_fn)dlsym(RTLD_NEXT, "sigaction");
	real_signal = (signal_fn)dlsym(RTLD_NEXT, "signal");
	pthread_create_fn pc = (pthread_create_fn)dlsym(RTLD_NEXT, "pthread_create");
	__atomic_store_n(&real_pthread_create, pc, __ATOMIC_RELEASE);
	nprof__guard = guard;
}

#define NPROF_OWN_STACK ((size_t)512 << 10)

struct start {
	void *(*fn)(void *);
	void *arg;
	int internal;
	uint32_t creator_stack;  /* threads.c: who called pthread_create */
	pid_t creator_tid;
};

static void *trampoline(void *p)
{
	struct start s = *(struct start *)p;
	/* Registered before anything else runs here (even the free below may
	 * wait on a lock, and a wait wants the thread's entry), so the
	 * thread's first wait is already attributed; threads.c unregisters it
	 * at exit. */
	if (!s.internal)
		nprof__threads_started(s.creator_stack, s.creator_tid);
	nprof__arena_free(p);
	if (s.internal) {
		nprof__thread_mark_internal();
		/* Its memory never competes with samples (base/arena.c), and its
		 * mallocs never make glibc create an arena (malloc_hooks.c). */
		nprof__arena_serving = 1;
		nprof__heap_thread_own(1);
		void *ret;
		pthread_cleanup_push(nprof__thread_unmark_internal, NULL);
		ret = s.fn(s.arg);
		pthread_cleanup_pop(1);
		return ret;
	}
	nprof__cpu_thread_start();
	return s.fn(s.arg);
}

NPROF_API int pthread_create(pthread_t *thread, const pthread_attr_t *attr,
			     void *(*fn)(void *), void *arg)
{
	pthread_create_fn real = __atomic_load_n(&real_pthread_create, __ATOMIC_ACQUIRE);
	if (NPROF_UNLIKELY(real == NULL)) {
		nprof__preload_init();
		real = real_pthread_create;
	}
	/* A dormant copy (malloc_hooks.c): the program's own copy of nprof
	 * already wrapped this thread. */
	if (NPROF_UNLIKELY(nprof__heap_other_copy()))
		return real(thread, attr, fn, arg);
	int saved = errno;
	int guard = nprof__guard;
	nprof__guard = 1;
	struct start *s = nprof__arena_alloc(sizeof *s);
	nprof__guard = guard;
	errno = saved;
	if (s == NULL)
		return real(thread, attr, fn, arg);
	s->fn = fn;
	s->arg = arg;
	s->internal = guard != 0;
	/* The creating stack is captured here, in the creator: the new
	 * thread cannot see who started it. */
	uint32_t creator = s->internal ? 0 : nprof__threads_creating();
	s->creator_stack = creator;
	s->creator_tid = s->internal ? 0 : nprof__gettid();
	/* nprof's own threads get small stacks: the default (RLIMIT_STACK,
	 * often 8 MiB) of address space each counts against the program's
	 * RLIMIT_AS. Their deepest work (symbolizing, compressing) needs far
	 * less. */
	pthread_attr_t small;
	if (s->internal && attr == NULL && pthread_attr_init(&small) == 0) {
		if (pthread_attr_setstacksize(&small, NPROF_OWN_STACK) == 0)
			attr = &small;
		else
			pthread_attr_destroy(&small);
	}
	int rc = real(thread, attr, trampoline, s);
	if (attr == &small)
		pthread_attr_destroy(&small);
	if (rc != 0) {
		nprof__arena_free(s);
		errno = saved;
	} else if (guard == 0) {
		/* `s` may already be freed by the new thread: use the copy. */
		nprof__threads_created(creator);
	}
	return rc;
}

NPROF_API int sigaction(int sig, const struct sigaction *act, struct sigaction *old)
{
	if (real_sigaction == NULL)
		nprof__preload_init();
	if (sig == SIGPROF && act != NULL && !nprof__guard) {
		int saved = errno;
		nprof__cpu_sigprof_taken();
		errno = saved;
	}
	if (act != NULL && !nprof__guard)
		nprof__threads_sample_sig_taken(sig);
	int rc = real_sigaction(sig, act, old);
	if (rc == 0 && !nprof__guard)
		nprof__threads_sample_hide(sig, old);
	return rc;
}

NPROF_API sighandler_t signal(int sig, sighandler_t handler)
{
	if (real_signal == NULL)
		nprof__preload_init();
	if (sig == SIGPROF && !nprof__guard) {
		int saved = errno;
		nprof__cpu_sigprof_taken();
		errno = saved;
	}
	if (!nprof__guard)
		nprof__threads_sample_sig_taken(sig);
	sighandler_t old = real_signal(sig, handler);
	if (old != SIG_ERR && !nprof__guard) {
		struct sigaction sa;
		memset(&sa, 0, sizeof sa);
		sa.sa_handler = old;
		nprof__threads_sample_hide(sig, &sa);
		old = sa.sa_handler;
	}
	return old;
}
