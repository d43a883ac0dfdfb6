/*
 * contention_mutex.c - two threads share one mutex, taken HOLDS times in
 * all and held about 1 ms each time (busy), so that one thread is always
 * waiting while the other holds it: about 1 s of delay in total, which
 * the mutex profile must charge to hold_and_release()'s unlock. Prints
 * the delay as the program measured it ("measured_ns N"), then "ready",
 * then sleeps until killed. The delay of one wait runs from the call of
 * pthread_mutex_lock to the release that let the waiter in, as Go and
 * nprof define it; the time the woken waiter then spends waiting for a
 * CPU is not contention (on a loaded machine it was a third of the time
 * inside pthread_mutex_lock).
 */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>

#define HOLDS 1000

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static int holds;
static int64_t waited[2];
static int64_t released;        /* when the lock was last released, ns */

static int64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* Holds the lock 1 ms, then releases it: the charge site. */
__attribute__((noinline)) static void hold_and_release(void)
{
	int64_t end = now_ns() + 1000000;
	while (now_ns() < end)
		;
	holds++;
	__atomic_store_n(&released, now_ns(), __ATOMIC_RELAXED);
	pthread_mutex_unlock(&mu); /* UNLOCK SITE */
	/* Not a tail call: this frame must stay on the unlocker's stack. */
	__asm__ volatile("" ::: "memory");
}

static void *worker(void *arg)
{
	int me = (int)(intptr_t)arg;
	for (;;) {
		int64_t t0 = now_ns();
		pthread_mutex_lock(&mu);
		/* Let in by a release after the call: it waited until then. */
		int64_t r = __atomic_load_n(&released, __ATOMIC_RELAXED);
		if (r > t0)
			waited[me] += r - t0;
		if (holds >= HOLDS) {
			pthread_mutex_unlock(&mu);
			return NULL;
		}
		hold_and_release();
	}
}

int main(void)
{
	pthread_t a, b;
	pthread_create(&a, NULL, worker, (void *)0);
	pthread_create(&b, NULL, worker, (void *)1);
	pthread_join(a, NULL);
	pthread_join(b, NULL);
	printf("measured_ns %lld\nready\n", (long long)(waited[0] + waited[1]));
	fflush(stdout);
	for (;;)
		pause();
}
