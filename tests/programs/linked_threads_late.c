/*
 * linked_threads_late.c - links -lnprof and starts nprof only after it has
 * created its threads: four readers blocked on a pipe in late_reader(),
 * and one that blocks every signal and sleeps in masked_sleeper(). Prints
 * "ready" once nprof serves.
 */
#include <nprof.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>

static int pipefd[2];
static atomic_int started;

__attribute__((noinline)) static void *late_reader(void *arg)
{
	(void)arg;
	char c;
	started++;
	while (read(pipefd[0], &c, 1) != 0)
		;
	return NULL;
}

__attribute__((noinline)) static void *masked_sleeper(void *arg)
{
	(void)arg;
	sigset_t all;
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, NULL);
	started++;
	for (;;) {
		struct timespec ts = {3600, 0};
		nanosleep(&ts, NULL);
	}
	return NULL;
}

int main(void)
{
	if (pipe(pipefd) != 0)
		return 1;
	for (int i = 0; i < 4; i++) {
		pthread_t t;
		pthread_create(&t, NULL, late_reader, NULL);
	}
	pthread_t t;
	pthread_create(&t, NULL, masked_sleeper, NULL);
	while (started < 5)
		usleep(1000);
	int rc = nprof_start(NULL);
	if (rc != 0) {
		fprintf(stderr, "nprof_start: %s\n", nprof_strerror(rc));
		return 1;
	}
	printf("ready\n");
	fflush(stdout);
	for (;;)
		pause();
}
