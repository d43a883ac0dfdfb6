/*
 * sync_hooks.c - the overrides of the blocking pthread and semaphore
 * calls: condition waits, contended mutex and rwlock locks, semaphore
 * waits, joins and barriers. Each records, in the calling thread's
 * registry entry, what it waits for and since when, so that a thread dump
 * can say "[pthread_cond_wait, 3 minutes]" exactly instead of guessing
 * "futex" from the kernel (threads.c).
 *
 * Cost: a lock that is free is taken with one trylock and nothing else is
 * done (the uncontended path stays as cheap as glibc's); a wait that
 * really blocks costs two clock_gettime (vDSO) and a handful of stores
 * into the thread's own entry. No lock, no allocation, except the first
 * time a thread nprof did not start (the main thread, threads from before
 * nprof) waits: it is registered then (threads.c).
 *
 * The single place where a wait is observed is the nprof__wait_begin /
 * nprof__wait_end pair (threads_int.h); the block and mutex profiles add
 * their sampling there.
 *
 * Real functions are resolved in the constructor with dlvsym
 * at the version the program links against today (pthread_cond_wait's
 * default is GLIBC_2.3.2; plain dlsym would return the 2.2.5 compatibility
 * version, whose condition variable layout is different), with dlsym as a
 * fallback for other C libraries. A contended mutex or rwlock met before
 * the constructor ran (another library's constructor) is waited for by
 * polling its trylock, since resolving could itself take a lock.
 *
 * errno: pthread functions report errors by return value; sem_wait and
 * sem_timedwait set errno, which nothing here touches after the real call.
 * Signal safety: none of these functions is async-signal-safe in POSIX; we
 * add nothing that would make a handler's misuse worse than glibc's.
 */
#include "threads_int.h"

#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <semaphore.h>

#include <sched.h>

typedef int (*mutex_lock_fn)(pthread_mutex_t *);
typedef int (*rwlock_lock_fn)(pthread_rwlock_t *);
typedef int (*cond_wait_fn)(pthread_cond_t *, pthread_mutex_t *);
typedef int (*cond_timedwait_fn)(pthread_cond_t *, pthread_mutex_t *, const struct timespec *);
typedef int (*cond_clockwait_fn)(pthread_cond_t *, pthread_mutex_t *, clockid_t,
				 const struct timespec *);
typedef int (*mutex_timedlock_fn)(pthread_mutex_t *, const struct timespec *);
typedef int (*mutex_clocklock_fn)(pthread_mutex_t *, clockid_t, const struct timespec *);
typedef int (*rwlock_timed_fn)(pthread_rwlock_t *, const struct timespec *);
typedef int (*sem_wait_fn)(sem_t *);
typedef int (*sem_timedwait_fn)(sem_t *, const struct timespec *);
typedef int (*sem_clockwait_fn)(sem_t *, clockid_t, const struct timespec *);
typedef int (*join_fn)(pthread_t, void **);
typedef int (*timedjoin_fn)(pthread_t, void **, const struct timespec *);
typedef int (*clockjoin_fn)(pthread_t, void **, clockid_t, const struct timespec *);
typedef int (*barrier_wait_fn)(pthread_barrier_t *);

static struct {
	mutex_lock_fn mutex_lock;
	rwlock_lock_fn rwlock_rdlock;
	rwlock_lock_fn rwlock_wrlock;
	cond_wait_fn cond_wait;
	cond_timedwait_fn cond_timedwait;
	cond_clockwait_fn cond_clockwait;
	mutex_timedlock_fn mutex_timedlock;
	mutex_clocklock_fn mutex_clocklock;
	rwlock_timed_fn rwlock_timedrdlock;
	rwlock_timed_fn rwlock_timedwrlock;
	sem_wait_fn sem_wait;
	sem_timedwait_fn sem_timedwait;
	sem_clockwait_fn sem_clockwait;
	join_fn join;
	timedjoin_fn timedjoin;
	clockjoin_fn clockjoin;
	barrier_wait_fn barrier_wait;
} real;

static void *resolve(const char *name, const char *version)
{
	void *p = version != NULL ? dlvsym(RTLD_NEXT, name, version) : NULL;
	if (p == NULL)
		p = dlsym(RTLD_NEXT, name);
	return p;
}

/* Resolves every real function. Runs from the constructor (before the
 * program's main) and again, harmlessly, if a hook runs earlier than it
 * (another library's constructor): the stores are idempotent. */
static void resolve_all(void)
{
	int saved = errno;
	int guard = nprof__guard;
	nprof__guard = 1;
	real.mutex_lock = (mutex_lock_fn)resolve("pthread_mutex_lock", "GLIBC_2.2.5");
	real.rwlock_rdlock = (rwlock_lock_fn)resolve("pthread_rwlock_rdlock", "GLIBC_2.34");
	real.rwlock_wrlock = (rwlock_lock_fn)resolve("pthread_rwlock_wrlock", "GLIBC_2.34");
	real.cond_wait = (cond_wait_fn)resolve("pthread_cond_wait", "GLIBC_2.3.2");
	real.cond_timedwait = (cond_timedwait_fn)resolve("pthread_cond_timedwait", "GLIBC_2.3.2");
	real.cond_clockwait = (cond_clockwait_fn)resolve("pthread_cond_clockwait", "GLIBC_2.34");
	real.mutex_timedlock = (mutex_timedlock_fn)resolve("pthread_mutex_timedlock", "GLIBC_2.34");
	real.mutex_clocklock = (mutex_clocklock_fn)resolve("pthread_mutex_clocklock", "GLIBC_2.34");
	real.rwlock_timedrdlock = (rwlock_timed_fn)resolve("pthread_rwlock_timedrdlock", "GLIBC_2.34");
	real.rwlock_timedwrlock = (rwlock_timed_fn)resolve("pthread_rwlock_timedwrlock", "GLIBC_2.34");
	real.sem_wait = (sem_wait_fn)resolve("sem_wait", "GLIBC_2.34");
	real.sem_timedwait = (sem_timedwait_fn)resolve("sem_timedwait", "GLIBC_2.34");
	real.sem_clockwait = (sem_clockwait_fn)resolve("sem_clockwait", "GLIBC_2.34");
	real.join = (join_fn)resolve("pthread_join", "GLIBC_2.34");
	real.timedjoin = (timedjoin_fn)resolve("pthread_timedjoin_np", "GLIBC_2.34");
	real.clockjoin = (clockjoin_fn)resolve("pthread_clockjoin_np", "GLIBC_2.34");
	real.barrier_wait = (barrier_wait_fn)resolve("pthread_barrier_wait", "GLIBC_2.34");
	nprof__guard = guard;
	errno = saved;
}

__attribute__((constructor)) static void sync_hooks_ctor(void)
{
	resolve_all();
}

/* The real function `f`, resolving on first use before the constructor. */
#define REAL(f) (NPROF_LIKELY(real.f != NULL) ? real.f : (resolve_all(), real.f))

/* ---------------------------------------------------------------- */
/* Condition variables                                               */
/* ---------------------------------------------------------------- */

NPROF_API int pthread_cond_wait(pthread_cond_t *c, pthread_mutex_t *m)
{
	cond_wait_fn f = REAL(cond_wait);
	struct nprof_wait w;
	nprof__wait_begin(&w, NPROF_WAIT_COND_WAIT, c);
	int rc = f(c, m);
	nprof__wait_end(&w);
	return rc;
}

NPROF_API int pthread_cond_timedwait(pthread_cond_t *c, pthread_mutex_t *m,
				     const struct timespec *abstime)
{
	cond_timedwait_fn f = REAL(cond_timedwait);
	struct nprof_wait w;
	nprof__wait_begin(&w, NPROF_WAIT_COND_TIMEDWAIT, c);
	int rc = f(c, m, abstime);
	nprof__wait_end(&w);
	return rc;
}

NPROF_API int pthread_cond_clockwait(pthread_cond_t *c, pthread_mutex_t *m, clockid_t clk,
				     const struct timespec *abstime)
{
	cond_clockwait_fn f = REAL(cond_clockwait);
	if (f == NULL)
		return ENOSYS;
	struct nprof_wait w;
	nprof__wait_begin(&w, NPROF_WAIT_COND_CLOCKWAIT, c);
	int rc = f(c, m, clk, abstime);
	nprof__wait_end(&w);
	return rc;
}

/* ---------------------------------------------------------------- */
/* Mutexes and rwlocks: only the contended path is recorded           */
/* ---------------------------------------------------------------- */

/*
 * A free mutex is taken by the trylock itself. Any answer but EBUSY is
 * what lock would have answered too (0; EOWNERDEAD of a robust mutex, which
 * also acquires it; EAGAIN, EINVAL), so it is returned as is.
 */
NPROF_API int pthread_mutex_lock(pthread_mutex_t *m)
{
	int rc = pthread_mutex_trylock(m);
	if (NPROF_LIKELY(rc != EBUSY))
		return rc;
	struct nprof_wait w;
	nprof__wait_begin(&w, NPROF_WAIT_MUTEX_LOCK, m);
	mutex_lock_fn f = real.mutex_lock;
	if (NPROF_UNLIKELY(f == NULL)) {
		/* Before the constructor (another library's constructor locking):
		 * resolving could itself lock; wait by polling instead. */
		while ((rc = pthread_mutex_trylock(m)) == EBUSY)
			sched_yield();
		return rc;
	}
	rc = f(m);
	nprof__wait_end(&w);
	return rc;
}

NPROF_API int pthread_mutex_timedlock(pthread_mutex_t *m, const struct timespec *abstime)
{
	mutex_timedlock_fn f = REAL(mutex_timedlock);
	int rc = pthread_mutex_trylock(m);
	if (rc != EBUSY)
		return rc;
	struct nprof_wait w;
	nprof__wait_begin(&w, NPROF_WAIT_MUTEX_TIMEDLOCK, m);
	rc = f(m, abstime);
	nprof__wait_end(&w);
	return rc;
}

NPROF_API int pthread_mutex_clocklock(pthread_mutex_t *m, clockid_t clk,
				      const struct timespec *abstime)
{
	mutex_clocklock_fn f = REAL(mutex_clocklock);
	if (f == NULL)
		return ENOSYS;
	int rc = pthread_mutex_trylock(m);
	if (rc != EBUSY)
		return rc;
	struct nprof_wait w;
	nprof__wait_begin(&w, NPROF_WAIT_MUTEX_CLOCKLOCK, m);
	rc = f(m, clk, abstime);
	nprof__wait_end(&w);
	return rc;
}

NPROF_API int pthread_rwlock_rdlock(pthread_rwlock_t *l)
{
	int rc = pthread_rwlock_tryrdlock(l);
	if (NPROF_LIKELY(rc != EBUSY))
		return rc;
	struct nprof_wait w;
	nprof__wait_begin(&w, NPROF_WAIT_RWLOCK_RDLOCK, l);
	rwlock_lock_fn f = real.rwlock_rdlock;
	if (NPROF_UNLIKELY(f == NULL)) {
		while ((rc = pthread_rwlock_tryrdlock(l)) == EBUSY)
			sched_yield();
		return rc;
	}
	rc = f(l);
	nprof__wait_end(&w);
	return rc;
}

NPROF_API int pthread_rwlock_wrlock(pthread_rwlock_t *l)
{
	int rc = pthread_rwlock_trywrlock(l);
	if (NPROF_LIKELY(rc != EBUSY))
		return rc;
	struct nprof_wait w;
	nprof__wait_begin(&w, NPROF_WAIT_RWLOCK_WRLOCK, l);
	rwlock_lock_fn f = real.rwlock_wrlock;
	if (NPROF_UNLIKELY(f == NULL)) {
		while ((rc = pthread_rwlock_trywrlock(l)) == EBUSY)
			sched_yield();
		return rc;
	}
	rc = f(l);
	nprof__wait_end(&w);
	return rc;
}

NPROF_API int pthread_rwlock_timedrdlock(pthread_rwlock_t *l, const struct timespec *abstime)
{
	rwlock_timed_fn f = REAL(rwlock_timedrdlock);
	int rc = pthread_rwlock_tryrdlock(l);
	if (rc != EBUSY)
		return rc;
	struct nprof_wait w;
	nprof__wait_begin(&w, NPROF_WAIT_RWLOCK_TIMEDRDLOCK, l);
	rc = f(l, abstime);
	nprof__wait_end(&w);
	return rc;
}

NPROF_API int pthread_rwlock_timedwrlock(pthread_rwlock_t *l, const struct timespec *abstime)
{
	rwlock_timed_fn f = REAL(rwlock_timedwrlock);
	int rc = pthread_rwlock_trywrlock(l);
	if (rc != EBUSY)
		return rc;
	struct nprof_wait w;
	nprof__wait_begin(&w, NPROF_WAIT_RWLOCK_TIMEDWRLOCK, l);
	rc = f(l, abstime);
	nprof__wait_end(&w);
	return rc;
}

/* ---------------------------------------------------------------- */
/* Semaphores: a semaphore that can be taken at once is not a wait    */
/* ---------------------------------------------------------------- */

NPROF_API int sem_wait(sem_t *s)
{
	sem_wait_fn f = REAL(sem_wait);
	int saved = errno;
	if (sem_trywait(s) == 0)
		return 0;
	errno = saved;
	struct nprof_wait w;
	nprof__wait_begin(&w, NPROF_WAIT_SEM_WAIT, s);
	int rc = f(s);
	nprof__wait_end(&w);
	return rc;
}

NPROF_API int sem_timedwait(sem_t *s, const struct timespec *abstime)
{
	sem_timedwait_fn f = REAL(sem_timedwait);
	int saved = errno;
	if (sem_trywait(s) == 0)
		return 0;
	errno = saved;
	struct nprof_wait w;
	nprof__wait_begin(&w, NPROF_WAIT_SEM_TIMEDWAIT, s);
	int rc = f(s, abstime);
	nprof__wait_end(&w);
	return rc;
}

NPROF_API int sem_clockwait(sem_t *s, clockid_t clk, const struct timespec *abstime)
{
	sem_clockwait_fn f = REAL(sem_clockwait);
	if (f == NULL) {
		errno = ENOSYS;
		return -1;
	}
	int saved = errno;
	if (sem_trywait(s) == 0)
		return 0;
	errno = saved;
	struct nprof_wait w;
	nprof__wait_begin(&w, NPROF_WAIT_SEM_CLOCKWAIT, s);
	int rc = f(s, clk, abstime);
	nprof__wait_end(&w);
	return rc;
}

/* ---------------------------------------------------------------- */
/* Joins and barriers                                                */
/* ---------------------------------------------------------------- */

NPROF_API int pthread_join(pthread_t t, void **ret)
{
	join_fn f = REAL(join);
	struct nprof_wait w;
	nprof__wait_begin(&w, NPROF_WAIT_JOIN, (const void *)t);
	int rc = f(t, ret);
	nprof__wait_end(&w);
	return rc;
}

NPROF_API int pthread_timedjoin_np(pthread_t t, void **ret, const struct timespec *abstime)
{
	timedjoin_fn f = REAL(timedjoin);
	if (f == NULL)
		return ENOSYS;
	struct nprof_wait w;
	nprof__wait_begin(&w, NPROF_WAIT_TIMEDJOIN, (const void *)t);
	int rc = f(t, ret, abstime);
	nprof__wait_end(&w);
	return rc;
}

NPROF_API int pthread_clockjoin_np(pthread_t t, void **ret, clockid_t clk,
				   const struct timespec *abstime)
{
	clockjoin_fn f = REAL(clockjoin);
	if (f == NULL)
		return ENOSYS;
	struct nprof_wait w;
	nprof__wait_begin(&w, NPROF_WAIT_CLOCKJOIN, (const void *)t);
	int rc = f(t, ret, clk, abstime);
	nprof__wait_end(&w);
	return rc;
}

NPROF_API int pthread_barrier_wait(pthread_barrier_t *b)
{
	barrier_wait_fn f = REAL(barrier_wait);
	struct nprof_wait w;
	nprof__wait_begin(&w, NPROF_WAIT_BARRIER, b);
	int rc = f(b);
	nprof__wait_end(&w);
	return rc;
}
