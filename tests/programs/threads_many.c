/*
 * threads_many.c - N threads (argv[1], default 1000) parked in
 * pthread_cond_wait inside park_here(), on 64 KiB stacks so that ten
 * thousand fit in ordinary limits. Prints "ready N" once every thread has
 * reached its wait (counted under the mutex the wait releases), then
 * sleeps. Used by tests/integration/threads_many.sh and bench/threads.sh.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t never = PTHREAD_COND_INITIALIZER;
static pthread_cond_t arrived = PTHREAD_COND_INITIALIZER;
static int parked;

__attribute__((noinline)) static void park_here(void)
{
	pthread_mutex_lock(&mu);
	parked++;
	pthread_cond_signal(&arrived);
	for (;;)
		pthread_cond_wait(&never, &mu);
}

static void *worker(void *arg)
{
	(void)arg;
	park_here();
	return NULL;
}

int main(int argc, char **argv)
{
	int n = argc > 1 ? atoi(argv[1]) : 1000;
	pthread_attr_t a;
	pthread_attr_init(&a);
	pthread_attr_setstacksize(&a, 64 * 1024);
	for (int i = 0; i < n; i++) {
		pthread_t t;
		int rc = pthread_create(&t, &a, worker, NULL);
		if (rc != 0) {
			fprintf(stderr, "pthread_create #%d: error %d\n", i, rc);
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
