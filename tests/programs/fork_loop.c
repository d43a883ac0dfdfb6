/*
 * fork_loop.c - three threads loop on fork() + waitpid() while allocating,
 * as a pre-forking service's supervisor does; the main thread burns CPU so
 * a CPU profile has samples. Runs for argv[1] seconds (default 3) and
 * exits 0. A CPU sample that needs malloc while fork() holds glibc's
 * malloc locks hangs the whole process: the test watches for that.
 * With a second argument, it then idles until that file exists, so the
 * profile can be fetched and symbolized before the program exits.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static volatile int stop;
static volatile unsigned long forks;
static volatile double burn;             /* the main thread's busy work */

static void *forker(void *arg)
{
	(void)arg;
	while (!stop) {
		void *keep[16];
		for (int i = 0; i < 16; i++)
			keep[i] = malloc(32 + (size_t)i * 100);
		pid_t p = fork();
		if (p == 0) {
			void *q = malloc(64);
			free(q);
			_exit(0);
		}
		if (p > 0)
			waitpid(p, NULL, 0);
		for (int i = 0; i < 16; i++)
			free(keep[i]);
		__atomic_add_fetch(&forks, 1, __ATOMIC_RELAXED);
	}
	return NULL;
}

int main(int argc, char **argv)
{
	double secs = argc > 1 ? atof(argv[1]) : 3;
	const char *stop_file = argc > 2 ? argv[2] : NULL;
	pthread_t t[3];
	for (int i = 0; i < 3; i++)
		pthread_create(&t[i], NULL, forker, NULL);
	printf("ready\n");
	fflush(stdout);
	struct timespec t0, now;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	do {
		for (int i = 0; i < 100000; i++)
			burn += i * 0.5;
		clock_gettime(CLOCK_MONOTONIC, &now);
	} while ((double)(now.tv_sec - t0.tv_sec) + (now.tv_nsec - t0.tv_nsec) / 1e9 < secs);
	stop = 1;
	for (int i = 0; i < 3; i++)
		pthread_join(t[i], NULL);
	printf("forks %lu\n", forks);
	fflush(stdout);
	struct timespec tick = {0, 20000000};
	while (stop_file != NULL && access(stop_file, F_OK) != 0)
		nanosleep(&tick, NULL);
	return 0;
}
