/*
 * linked_busy.c - the link-in API: a program built with -lnprof that starts
 * nprof itself (after creating its threads, so nprof must find threads
 * that existed before it) and then burns CPU in hot_loop().
 */
#include <nprof.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static volatile uint64_t sink;

__attribute__((noinline)) uint64_t hot_loop(uint64_t seed)
{
	uint64_t h = seed;
	for (int i = 0; i < 1000000; i++)
		h = (h ^ (uint64_t)i) * 0x9E3779B97F4A7C15ULL;
	return h;
}

static void *spin(void *arg)
{
	for (;;)
		sink += hot_loop((uintptr_t)arg + sink);
	return NULL;
}

int main(void)
{
	pthread_t t[2];
	for (uintptr_t i = 0; i < 2; i++)
		pthread_create(&t[i], NULL, spin, (void *)i);
	int rc = nprof_start(getenv("LINKED_CONFIG"));
	if (rc != 0) {
		fprintf(stderr, "nprof_start: %s\n", nprof_strerror(rc));
		return 1;
	}
	/* A second start must say so rather than start twice. */
	if (nprof_start(NULL) == 0) {
		fprintf(stderr, "second nprof_start succeeded\n");
		return 1;
	}
	printf("linked_busy: pid %d\n", (int)getpid());
	fflush(stdout);
	for (;;)
		pause();
}
