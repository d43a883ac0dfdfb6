/*
 * sync_hooks.c - the overrides of the blocking pthread and semaphore
 * calls: condition waits, contended mutex and rwlock locks, semaphore
 * waits, joins and barriers. Each records, in the calling thread's
 * registry entry, what it waits for and since when, so that a thread dump
 * can say "[pthread_cond_wait, 3 minutes]" exactly instead of guessing
 * "futex" from the kernel (threads.c).
 *
 * Cost: a mutex that is free is handed to glibc's lock after one load of
 * its lock word (other locks: one trylock), and nothing else is done (the
 * uncontended path stays as cheap as glibc's; bench/locks.sh); a wait that
 * really blocks costs two clock_gettime (vDSO) and a handful of stores
 * into the thread's own entry. No lock, no allocation, except the first
 * time a thread nprof did not start (the main thread, threads from before
 * nprof) waits: it is registered then (threads.c). With the block or
 * mutex profile on, a sampled event also unwinds and interns its stack
 * (contention.c: arena memory, the stack table's lock on a new stack).
 *
 * The single place where a wait is observed is the nprof__wait_begin /
 * wait_done pair: wait_done feeds the block profile (contention.c) before
 * restoring the thread's wait state. The mutex profile charges a mutex's
 * delay to the thread that releases it, as Go does: a thread that blocks
 * in pthread_mutex_lock/timedlock/clocklock registers with contention.c,
 * and the pthread_mutex_unlock override, on its slow path only, lets
 * contention.c charge the registered waiters' delay to its caller. With
 * no waiter registered (always so with the mutex profile off) an unlock
 * costs one relaxed load and a jump to glibc's unlock. Releases
 * made inside the C library (pthread_cond_wait releasing its mutex) are
 * not seen: that delay is charged to the next interposed unlock of the
 * mutex. rwlocks are in the block profile only.
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
#include "base.h"
#include "contention.h"
#include "threads_int.h"

#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <semaphore.h>

#include <sched.h>
#include <stdatomic.h>

/* glibc's own name for its unlock: needs no lookup, so an unlock before
 * the constructor (another library's constructor) never has to resolve
 * anything. Weak: with another C library, dlsym's answer is used. */
extern int __pthread_mutex_unlock(pthread_mutex_t *m) __attribute__((weak));
typedef int (*mutex_unlock_fn)(pthread_mutex_t *);
static int unlock_fallback(pthread_mutex_t *m);
/* What pthread_mutex_unlock calls: set at load time (a relocation, no
 * lookup), so one indirect jump is the whole forwarding cost. */
static mutex_unlock_fn unlock_fn = unlock_fallback;

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
	mutex_unlock_fn mutex_unlock;
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
	real.mutex_unlock = (mutex_unlock_fn)resolve("pthread_mutex_unlock", "GLIBC_2.2.5");
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
	if (__pthread_mutex_unlock != NULL)
		unlock_fn = __pthread_mutex_unlock;
	else if (real.mutex_unlock != NULL)
		unlock_fn = real.mutex_unlock;
}

/* An unlock before the constructor ran, or with a C library that has no
 * __pthread_mutex_unlock. */
static int unlock_fallback(pthread_mutex_t *m)
{
	if (__pthread_mutex_unlock != NULL)
		return __pthread_mutex_unlock(m);
	mutex_unlock_fn f = real.mutex_unlock;
	if (f == NULL) {
		resolve_all();
		f = real.mutex_unlock;
	}
	return f(m);
}

/* The real function `f`, resolving on first use before the constructor. */
#define REAL(f) (NPROF_LIKELY(real.f != NULL) ? real.f : (resolve_all(), real.f))

/* Ends a wait begun with nprof__wait_begin: samples it into the block
 * profile (a rate of -1 means "not read yet": contention.c reads it), then
 * restores the thread's previous wait state. Inlined into each override,
 * so that the block profile's stack starts at the override's caller. */
static inline void wait_done(struct nprof_wait *w)
{
	if (w->t != NULL &&
	    NPROF_UNLIKELY(atomic_load_explicit(&nprof__block_rate, memory_order_relaxed) != 0))
		nprof__contention_block(w->start_ns);
	nprof__wait_end(w);
}

/* ---------------------------------------------------------------- */
/* Condition variables                                               */
/* ---------------------------------------------------------------- */

NPROF_API int pthread_cond_wait(pthread_cond_t *c, pthread_mutex_t *m)
{
	cond_wait_fn f = REAL(cond_wait);
	struct nprof_wait w;
	nprof__wait_begin(&w, NPROF_WAIT_COND_WAIT, c);
	int rc = f(c, m);
	wait_done(&w);
	return rc;
}

NPROF_API int pthread_cond_timedwait(pthread_cond_t *c, pthread_mutex_t *m,
				     const struct timespec *abstime)
{
	cond_timedwait_fn f = REAL(cond_timedwait);
	struct nprof_wait w;
	nprof__wait_begin(&w, NPROF_WAIT_COND_TIMEDWAIT, c);
	int rc = f(c, m, abstime);
	wait_done(&w);
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
	wait_done(&w);
	return rc;
}

/* ---------------------------------------------------------------- */
/* Mutexes and rwlocks: only the contended path is recorded           */
/* ---------------------------------------------------------------- */

/* Registers a thread about to block on `m` for the mutex profile (see
 * the header); -1 when not registered. */
static inline int mutex_wait_begin(const struct nprof_wait *w, pthread_mutex_t *m)
{
	if (w->t == NULL ||
	    atomic_load_explicit(&nprof__mutex_fraction, memory_order_relaxed) == 0)
		return -1;
	return nprof__mutex_wait_begin(m, w->start_ns);
}

static inline void mutex_wait_end(int slot, const struct nprof_wait *w)
{
	if (slot >= 0)
		nprof__mutex_wait_end(slot, w->start_ns);
}

/*
 * The hot path of every critical section: one relaxed load of a counter
 * that stays zero unless the mutex profile is on and a thread waits for
 * some mutex, then glibc's unlock called directly. errno: unlock does not
 * set it, and the slow path preserves it.
 */
NPROF_API int pthread_mutex_unlock(pthread_mutex_t *m)
{
	if (NPROF_UNLIKELY(atomic_load_explicit(&nprof__mutex_waiting, memory_order_relaxed) != 0))
		nprof__mutex_unlocking(m);
	return unlock_fn(m);
}

/*
 * A free mutex is taken by the trylock itself. Any answer but EBUSY is
 * what lock would have answered too (0; EOWNERDEAD of a robust mutex, which
 * also acquires it; EAGAIN, EINVAL), so it is returned as is.
 */
/* The contended path of pthread_mutex_lock, out of line so that the
 * uncontended path saves no registers and sets up no frame for it. */
__attribute__((noinline)) static int mutex_lock_contended(pthread_mutex_t *m)
{
	int rc;
	struct nprof_wait w;
	nprof__wait_begin(&w, NPROF_WAIT_MUTEX_LOCK, m);
	mutex_lock_fn f = real.mutex_lock;
	if (NPROF_UNLIKELY(f == NULL)) {
		/* Before the constructor (another library's constructor locking):
		 * resolving could itself lock; wait by polling instead. */
		while ((rc = pthread_mutex_trylock(m)) == EBUSY)
			sched_yield();
		nprof__wait_end(&w);
		return rc;
	}
	int slot = mutex_wait_begin(&w, m);
	rc = f(m);
	mutex_wait_end(slot, &w);
	wait_done(&w);
	return rc;
}

/*
 * glibc: a mutex whose lock word reads 0 is free, and glibc's own lock
 * takes it without waiting, so it is handed over at once (one load and
 * one jump: the cheapest possible uncontended path). The lock can be
 * taken by another thread between the load and the real lock: that
 * (rare, nanoseconds-wide) wait is then not recorded, neither as a wait
 * reason nor in the block and mutex profiles. Any other state goes the
 * safe way: trylock, then the recorded contended path.
 */
NPROF_API int pthread_mutex_lock(pthread_mutex_t *m)
{
#ifdef __GLIBC__
	mutex_lock_fn f = real.mutex_lock;
	if (NPROF_LIKELY(__atomic_load_n(&m->__data.__lock, __ATOMIC_RELAXED) == 0 && f != NULL))
		return f(m);
#endif
	int rc = pthread_mutex_trylock(m);
	if (NPROF_LIKELY(rc != EBUSY))
		return rc;
	return mutex_lock_contended(m);
}

NPROF_API int pthread_mutex_timedlock(pthread_mutex_t *m, const struct timespec *abstime)
{
	mutex_timedlock_fn f = REAL(mutex_timedlock);
	int rc = pthread_mutex_trylock(m);
	if (rc != EBUSY)
		return rc;
	struct nprof_wait w;
	nprof__wait_begin(&w, NPROF_WAIT_MUTEX_TIMEDLOCK, m);
	int slot = mutex_wait_begin(&w, m);
	rc = f(m, abstime);
	mutex_wait_end(slot, &w);
	wait_done(&w);
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
	int slot = mutex_wait_begin(&w, m);
	rc = f(m, clk, abstime);
	mutex_wait_end(slot, &w);
	wait_done(&w);
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
	wait_done(&w);
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
	wait_done(&w);
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
	wait_done(&w);
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
	wait_done(&w);
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
	wait_done(&w);
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
	wait_done(&w);
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
	wait_done(&w);
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
	wait_done(&w);
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
	wait_done(&w);
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
	wait_done(&w);
	return rc;
}

NPROF_API int pthread_barrier_wait(pthread_barrier_t *b)
{
	barrier_wait_fn f = REAL(barrier_wait);
	struct nprof_wait w;
	nprof__wait_begin(&w, NPROF_WAIT_BARRIER, b);
	int rc = f(b);
	wait_done(&w);
	return rc;
}
