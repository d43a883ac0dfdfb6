/*
 * threads_waits.c - one thread blocked in each pthread/semaphore primitive
 * nprof interposes, each in a function named after it (w_cond_wait, ...),
 * so that a dump can be checked for the exact wait reason of every one.
 * Before that, main checks that the overrides leave errno alone on the
 * paths that return (contended lock, semaphore taken after a wait, timed
 * waits that time out) and prints "errno ok". Prints "ready" when every
 * thread is about to block.
 */
#include <errno.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER, held = PTHREAD_MUTEX_INITIALIZER;
static pthread_mutex_t held_timed = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static pthread_rwlock_t rw_w = PTHREAD_RWLOCK_INITIALIZER, rw_r = PTHREAD_RWLOCK_INITIALIZER;
static sem_t sem, sem_t2;
static pthread_barrier_t barrier;
static pthread_t forever;
static atomic_int started;

static struct timespec in_an_hour(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += 3600;
	return ts;
}

#define WAITER(name, body)                                                     \
	__attribute__((noinline)) static void *name(void *arg)                 \
	{                                                                      \
		(void)arg;                                                     \
		started++;                                                     \
		for (;;) {                                                     \
			body;                                                  \
		}                                                              \
		return NULL;                                                   \
	}

WAITER(w_cond_wait, pthread_mutex_lock(&mu); pthread_cond_wait(&cv, &mu); pthread_mutex_unlock(&mu))
WAITER(w_cond_timedwait, struct timespec ts = in_an_hour(); pthread_mutex_lock(&mu);
       pthread_cond_timedwait(&cv, &mu, &ts); pthread_mutex_unlock(&mu))
WAITER(w_mutex_lock, pthread_mutex_lock(&held); pthread_mutex_unlock(&held))
WAITER(w_mutex_timedlock, struct timespec ts = in_an_hour(); pthread_mutex_timedlock(&held_timed, &ts))
WAITER(w_rwlock_rdlock, pthread_rwlock_rdlock(&rw_w); pthread_rwlock_unlock(&rw_w))
WAITER(w_rwlock_wrlock, pthread_rwlock_wrlock(&rw_r); pthread_rwlock_unlock(&rw_r))
WAITER(w_sem_wait, sem_wait(&sem))
WAITER(w_sem_timedwait, struct timespec ts = in_an_hour(); sem_timedwait(&sem_t2, &ts))
WAITER(w_join, pthread_join(forever, NULL))
WAITER(w_barrier, pthread_barrier_wait(&barrier))

static void *sleeper(void *arg)
{
	(void)arg;
	for (;;)
		pause();
	return NULL;
}

static void *release_later(void *arg)
{
	usleep(50000);
	pthread_mutex_unlock(arg);
	return NULL;
}

static void check_errno(void)
{
	/* A contended lock that is released later. */
	pthread_mutex_t m = PTHREAD_MUTEX_INITIALIZER;
	pthread_mutexattr_t a;
	pthread_mutexattr_init(&a);
	pthread_mutexattr_settype(&a, PTHREAD_MUTEX_ERRORCHECK);
	pthread_mutex_init(&m, &a);
	pthread_mutex_lock(&m);
	pthread_t t;
	/* An error-checking mutex must be unlocked by its owner: use a plain
	 * one for the hand-off instead. */
	pthread_mutex_t plain = PTHREAD_MUTEX_INITIALIZER;
	pthread_mutex_lock(&plain);
	pthread_create(&t, NULL, release_later, &plain);
	errno = 4321;
	if (pthread_mutex_lock(&plain) != 0 || errno != 4321) {
		printf("errno changed by pthread_mutex_lock: %d\n", errno);
		exit(1);
	}
	pthread_join(t, NULL);
	/* Relocking an error-checking mutex: EDEADLK, as without nprof. */
	if (pthread_mutex_lock(&m) != EDEADLK) {
		printf("errorcheck relock did not give EDEADLK\n");
		exit(1);
	}
	sem_t s;
	sem_init(&s, 0, 1);
	errno = 4321;
	if (sem_wait(&s) != 0 || errno != 4321) {
		printf("errno changed by sem_wait: %d\n", errno);
		exit(1);
	}
	struct timespec past = {1, 0};
	errno = 0;
	if (sem_timedwait(&s, &past) != -1 || errno != ETIMEDOUT) {
		printf("sem_timedwait: want -1/ETIMEDOUT, errno %d\n", errno);
		exit(1);
	}
	pthread_mutex_lock(&mu);
	errno = 4321;
	if (pthread_cond_timedwait(&cv, &mu, &past) != ETIMEDOUT || errno != 4321) {
		printf("pthread_cond_timedwait: errno %d\n", errno);
		exit(1);
	}
	pthread_mutex_unlock(&mu);
	printf("errno ok\n");
}

int main(void)
{
	check_errno();
	sem_init(&sem, 0, 0);
	sem_init(&sem_t2, 0, 0);
	pthread_barrier_init(&barrier, NULL, 2);
	pthread_mutex_lock(&held);
	pthread_mutex_lock(&held_timed);
	pthread_rwlock_wrlock(&rw_w);
	pthread_rwlock_rdlock(&rw_r);
	pthread_create(&forever, NULL, sleeper, NULL);
	void *(*fns[])(void *) = {w_cond_wait, w_cond_timedwait, w_mutex_lock, w_mutex_timedlock,
				  w_rwlock_rdlock, w_rwlock_wrlock, w_sem_wait, w_sem_timedwait,
				  w_join, w_barrier};
	int n = sizeof fns / sizeof fns[0];
	for (int i = 0; i < n; i++) {
		pthread_t t;
		pthread_create(&t, NULL, fns[i], NULL);
	}
	while (started < n)
		usleep(1000);
	printf("ready\n");
	fflush(stdout);
	for (;;)
		pause();
}
