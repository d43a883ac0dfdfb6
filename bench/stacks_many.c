/*
 * stacks_many.c - allocates from N distinct stacks (argv[1], default
 * 50,000) and keeps every block, for bench/encode.sh: the encoding of a
 * heap profile of N stacks, and nprof's own memory against N.
 *
 * Two functions, a() and b(), call each other or themselves LEVELS deep
 * along the bits of a path number: each of the four call sites has its own
 * return address, so paths 0..N-1 give N distinct stacks (2^LEVELS >= N).
 * Each leaf allocates 64 bytes (argv[2] blocks per stack, default 1).
 * Prints "ready N" and waits for a signal.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#define LEVELS 17

static void **keep;
static long nkeep;
static int per_stack = 1;

__attribute__((noinline)) static void b(int d, unsigned path);

__attribute__((noinline)) static void leaf(void)
{
	for (int i = 0; i < per_stack; i++)
		keep[nkeep++] = malloc(64);
	__asm__ volatile("" ::: "memory");
}

__attribute__((noinline)) static void a(int d, unsigned path)
{
	if (d == 0)
		leaf();
	else if (path & 1)
		a(d - 1, path >> 1);
	else
		b(d - 1, path >> 1);
	__asm__ volatile("" ::: "memory");   /* no tail calls: one frame per level */
}

__attribute__((noinline)) static void b(int d, unsigned path)
{
	if (d == 0)
		leaf();
	else if (path & 1)
		a(d - 1, path >> 1);
	else
		b(d - 1, path >> 1);
	__asm__ volatile("" ::: "memory");
}

int main(int argc, char **argv)
{
	long n = argc > 1 ? atol(argv[1]) : 50000;
	if (argc > 2)
		per_stack = atoi(argv[2]);
	if (n > (1L << LEVELS))
		n = 1L << LEVELS;
	keep = calloc((size_t)(n * per_stack), sizeof *keep);
	if (keep == NULL)
		return 1;
	for (long p = 0; p < n; p++)
		a(LEVELS, (unsigned)p);
	printf("ready %ld\n", n);
	fflush(stdout);
	for (;;)
		pause();
}
