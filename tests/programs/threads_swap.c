/*
 * threads_swap.c - threads that come and go while the number of threads
 * stays the same. Starts N (argv[1], default 8) threads named "old-I",
 * parked in pthread_cond_wait, and prints "ready N". At each SIGUSR1 it
 * ends the oldest remaining "old-" thread, joins it, starts a thread
 * named "new-J" parked the same way, and prints "swapped J". So a dump
 * that reused the previous listing of threads because the count did not
 * change would miss "new-J" (tests/integration/threads_swap.sh).
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_THREADS 64

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t wake = PTHREAD_COND_INITIALIZER;
static pthread_cond_t arrived = PTHREAD_COND_INITIALIZER;
static int quit[MAX_THREADS];
static int parked;

__attribute__((noinline)) static void park_swap(int slot)
{
	pthread_mutex_lock(&mu);
	parked++;
	pthread_cond_broadcast(&arrived);
	while (!quit[slot])
		pthread_cond_wait(&wake, &mu);
	parked--;
	pthread_mutex_unlock(&mu);
}

static void *worker(void *arg)
{
	park_swap((int)(long)arg);
	return NULL;
}

static pthread_t start(int slot, const char *name, int expect)
{
	pthread_t t;
	if (pthread_create(&t, NULL, worker, (void *)(long)slot) != 0) {
		perror("pthread_create");
		exit(1);
	}
	pthread_setname_np(t, name);
	pthread_mutex_lock(&mu);
	while (parked < expect)
		pthread_cond_wait(&arrived, &mu);
	pthread_mutex_unlock(&mu);
	return t;
}

int main(int argc, char **argv)
{
	int n = argc > 1 ? atoi(argv[1]) : 8;
	if (n < 1 || n > MAX_THREADS / 2)
		n = 8;
	pthread_t t[MAX_THREADS];
	char name[16];
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGUSR1);
	pthread_sigmask(SIG_BLOCK, &set, NULL);   /* inherited: only sigwait takes it */
	for (int i = 0; i < n; i++) {
		snprintf(name, sizeof name, "old-%d", i);
		t[i] = start(i, name, i + 1);
	}
	printf("ready %d\n", n);
	fflush(stdout);
	for (int j = 0; j < n; j++) {
		int sig;
		if (sigwait(&set, &sig) != 0)
			return 1;
		pthread_mutex_lock(&mu);
		quit[j] = 1;
		pthread_cond_broadcast(&wake);
		pthread_mutex_unlock(&mu);
		pthread_join(t[j], NULL);
		snprintf(name, sizeof name, "new-%d", j);
		t[n + j] = start(n + j, name, n);
		printf("swapped %d\n", j);
		fflush(stdout);
	}
	for (;;) {
		int sig;
		sigwait(&set, &sig);
	}
}
