/*
 * check_threads.c - thread part of the `nprof check` corpus: threads
 * still running at exit (their creating lines marked LEAK: thread) beside
 * noise: a thread started and joined, a detached thread that has finished.
 */
#include <pthread.h>
#include <stdio.h>
#include <unistd.h>

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t never = PTHREAD_COND_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static int started, detached_done;

static void *waiter(void *arg)
{
	(void)arg;
	pthread_mutex_lock(&mu);
	started++;
	pthread_cond_broadcast(&cv);
	for (;;)
		pthread_cond_wait(&never, &mu);
	return NULL;
}

static void *reader(void *arg)
{
	int *fds = arg;
	char c;
	pthread_mutex_lock(&mu);
	started++;
	pthread_cond_broadcast(&cv);
	pthread_mutex_unlock(&mu);
	for (;;)
		if (read(fds[0], &c, 1) <= 0)
			break;
	return NULL;
}

static void *quick(void *arg)
{
	(void)arg;
	pthread_mutex_lock(&mu);
	detached_done = 1;
	pthread_cond_broadcast(&cv);
	pthread_mutex_unlock(&mu);
	return NULL;
}

__attribute__((noinline)) static void start_waiter(void)
{
	pthread_t t;
	pthread_create(&t, NULL, waiter, NULL); /* LEAK: thread */
}

__attribute__((noinline)) static void start_reader(int *fds)
{
	pthread_t t;
	pthread_create(&t, NULL, reader, fds); /* LEAK: thread */
}

int main(void)
{
	static int fds[2];
	if (pipe(fds) != 0) /* LEAK: fd */
		return 3;
	pthread_t j, d;
	pthread_create(&j, NULL, quick, NULL);
	pthread_join(j, NULL);
	detached_done = 0;
	pthread_create(&d, NULL, quick, NULL);
	pthread_detach(d);
	start_waiter();
	start_reader(fds);
	pthread_mutex_lock(&mu);
	while (started < 2 || !detached_done)
		pthread_cond_wait(&cv, &mu);
	pthread_mutex_unlock(&mu);
	printf("check_threads done\n");
	/* The pipe is the reader's: its two descriptors are reported too. */
	return 0;
}
