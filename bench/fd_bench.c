/*
 * fd_bench.c - the cost of an open+close pair, the descriptor profile's
 * hot path. Opens and closes /dev/null N times from DEPTH frames down
 * (the stack nprof records on open is that deep) and prints the median
 * nanoseconds per pair over 5 batches.
 *
 *   fd_bench [N [DEPTH]]            plain, or under LD_PRELOAD
 * Built a second time with -DLINKED -lnprof: the overrides are in place
 * but nprof is never started ("nprof off").
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static int cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

static __attribute__((noinline)) double batch(long n)
{
	double t0 = now();
	for (long i = 0; i < n; i++) {
		int fd = open("/dev/null", O_RDONLY);
		close(fd);
	}
	return (now() - t0) * 1e9 / n;
}

/* Recurses so that open() is called DEPTH frames deep. */
static __attribute__((noinline)) double at_depth(int depth, long n)
{
	if (depth > 0) {
		double r = at_depth(depth - 1, n);
		__asm__ volatile("" ::: "memory"); /* no tail call */
		return r;
	}
	double ns[5];
	batch(n / 10); /* warm: caches, nprof's stack table */
	for (int i = 0; i < 5; i++)
		ns[i] = batch(n);
	qsort(ns, 5, sizeof ns[0], cmp);
	return ns[2];
}

int main(int argc, char **argv)
{
	long n = argc > 1 ? atol(argv[1]) : 200000;
	int depth = argc > 2 ? atoi(argv[2]) : 10;
	printf("%.1f\n", at_depth(depth, n));
	return 0;
}
