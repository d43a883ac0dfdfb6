/*
 * cpu_work.c - a fixed amount of CPU work on two threads, for the CPU
 * profiling benchmark. Prints the wall time it took in seconds and the CPU
 * time of the whole process (every thread, the profiler's included: user +
 * system, getrusage), which a loaded machine disturbs far less. Optional
 * argv[1]: a file to create when the work starts, holding the pid (so a
 * profile request can be sent as the work begins), argv[2]: iterations
 * per thread.
 */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

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
	if (argc > 1 && argv[1][0] != '\0') {
		/* The pid, for a profiler started from outside (perf stat runs
		 * `nprof run`, which execs this program). */
		FILE *f = fopen(argv[1], "w");
		if (f != NULL) {
			fprintf(f, "%d\n", (int)getpid());
			fclose(f);
		}
	}
	pthread_t t[2];
	for (uintptr_t i = 0; i < 2; i++)
		pthread_create(&t[i], NULL, run, (void *)i);
	for (int i = 0; i < 2; i++)
		pthread_join(t[i], NULL);
	clock_gettime(CLOCK_MONOTONIC, &b);
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	double cpu = (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
		     (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
	printf("%.4f %.4f\n", (double)(b.tv_sec - a.tv_sec) + (double)(b.tv_nsec - a.tv_nsec) / 1e9,
	       cpu);
	return 0;
}
