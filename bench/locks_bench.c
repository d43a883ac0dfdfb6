/*
 * locks_bench.c - the cost of an uncontended pthread_mutex_lock +
 * pthread_mutex_unlock pair, the hot path nprof's sync overrides sit on.
 * One thread, N pairs (argv[1]) on one mutex; prints the mean ns per pair.
 * Each call goes through the PLT, as in any program, so preloading nprof
 * puts its overrides on exactly this path.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;

int main(int argc, char **argv)
{
	long n = argc > 1 ? atol(argv[1]) : 20000000;
	struct timespec a, b;
	for (long i = 0; i < n / 10; i++) { /* warm up */
		pthread_mutex_lock(&mu);
		pthread_mutex_unlock(&mu);
	}
	clock_gettime(CLOCK_MONOTONIC, &a);
	for (long i = 0; i < n; i++) {
		pthread_mutex_lock(&mu);
		pthread_mutex_unlock(&mu);
	}
	clock_gettime(CLOCK_MONOTONIC, &b);
	double ns = (double)(b.tv_sec - a.tv_sec) * 1e9 + (double)(b.tv_nsec - a.tv_nsec);
	printf("%.2f\n", ns / (double)n);
	return 0;
}
