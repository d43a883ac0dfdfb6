/*
 * threads_mixed.c - N threads (argv[1], default 1200) parked in five
 * different ways at three different call depths, so that a thread dump
 * has fifteen distinct stacks, half of them in waits nprof's overrides
 * record (pthread_cond_wait, a contended pthread_mutex_lock) and half in
 * system calls only the kernel reports (read of a pipe, poll, nanosleep).
 * Prints "ready N" once every thread has been created and has announced
 * itself; threads in kernel waits announce just before their call.
 * Used by tests/integration/threads_parallel.sh.
 */
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_mutex_t held = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t never = PTHREAD_COND_INITIALIZER;
static pthread_cond_t arrived = PTHREAD_COND_INITIALIZER;
static int parked, pipefd[2];

static void announce(void)
{
	pthread_mutex_lock(&mu);
	parked++;
	pthread_cond_signal(&arrived);
	pthread_mutex_unlock(&mu);
}

__attribute__((noinline)) static void wait_cond(void)
{
	pthread_mutex_lock(&mu);
	parked++;
	pthread_cond_signal(&arrived);
	for (;;)
		pthread_cond_wait(&never, &mu);
}

__attribute__((noinline)) static void wait_mutex(void)
{
	announce();
	pthread_mutex_lock(&held);      /* main holds it for good */
	__asm__ volatile("" ::: "memory");   /* not a tail call */
}

__attribute__((noinline)) static void wait_read(void)
{
	char c;
	announce();
	for (;;)
		if (read(pipefd[0], &c, 1) == 1)
			exit(3);
}

__attribute__((noinline)) static void wait_poll(void)
{
	announce();
	for (;;)
		poll(NULL, 0, -1);
}

__attribute__((noinline)) static void wait_sleep(void)
{
	announce();
	for (;;) {
		struct timespec ts = {3600, 0};
		nanosleep(&ts, NULL);
	}
}

static void (*const waits[5])(void) = {wait_cond, wait_mutex, wait_read, wait_poll, wait_sleep};

/* Depth 0, 1 or 2 between the thread's start and its wait: distinct
 * return addresses, so distinct stacks. */
__attribute__((noinline)) static void depth(int kind, int d)
{
	if (d > 0)
		depth(kind, d - 1);
	else
		waits[kind]();
	__asm__ volatile("" ::: "memory");   /* not a tail call */
}

static void *worker(void *arg)
{
	long i = (long)arg;
	depth((int)(i % 5), (int)(i / 5 % 3));
	return NULL;
}

int main(int argc, char **argv)
{
	int n = argc > 1 ? atoi(argv[1]) : 1200;
	if (pipe(pipefd) != 0)
		return 1;
	pthread_mutex_lock(&held);
	pthread_attr_t a;
	pthread_attr_init(&a);
	pthread_attr_setstacksize(&a, 64 * 1024);
	for (long i = 0; i < n; i++) {
		pthread_t t;
		int rc = pthread_create(&t, &a, worker, (void *)i);
		if (rc != 0) {
			fprintf(stderr, "pthread_create #%ld: error %d\n", i, rc);
			return 1;
		}
	}
	pthread_mutex_lock(&mu);
	while (parked < n)
		pthread_cond_wait(&arrived, &mu);
	pthread_mutex_unlock(&mu);
	printf("ready %d\n", n);
	fflush(stdout);
	for (;;)
		pause();
}
