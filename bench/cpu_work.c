/*
 * cpu_work.c - a fixed amount of CPU work on two threads, for the CPU
 * profiling benchmark. Prints the wall time it took in seconds. Optional
 * argv[1]: a file to create when the work starts (so a profile request can
 * be sent as the work begins), argv[2]: iterations per thread.
 */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static long iters = 2500000000L;
static volatile uint64_t sink;

__attribute__((noinline)) static uint64_t work(uint64_t seed)
{
	uint64_t h = seed;
	for (long i = 0; i < iters; i++)
		h = (h ^ (uint64_t)i) * 0x100000001b3ULL;
	return h;
}

static void *run(void *arg)
{
	sink += work((uintptr_t)arg);
	return NULL;
}

int main(int argc, char **argv)
{
	if (argc > 2)
		iters = atol(argv[2]);
	struct timespec a, b;
	clock_gettime(CLOCK_MONOTONIC, &a);
	if (argc > 1 && argv[1][0] != '\0')
		fclose(fopen(argv[1], "w"));
	pthread_t t[2];
	for (uintptr_t i = 0; i < 2; i++)
		pthread_create(&t[i], NULL, run, (void *)i);
	for (int i = 0; i < 2; i++)
		pthread_join(t[i], NULL);
	clock_gettime(CLOCK_MONOTONIC, &b);
	printf("%.4f\n", (double)(b.tv_sec - a.tv_sec) + (double)(b.tv_nsec - a.tv_nsec) / 1e9);
	return 0;
}
