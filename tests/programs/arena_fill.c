/*
 * arena_fill.c - allocates from 16,384 distinct call stacks (a 14-level
 * recursion that takes one of two paths at each level) and keeps what it
 * allocates, so that at NPROF_HEAP_RATE=1 with a small NPROF_ARENA_MB
 * nprof's sample storage fills up. Prints "ready" once 300,000 blocks are
 * live, then keeps replacing blocks (so the arena stays full) until the
 * file argv[1] exists; exits 0.
 */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#define LIVE 300000
static void *live[LIVE];

__attribute__((noinline)) static void *leaf(unsigned v)
{
	void *p = malloc(24 + (v & 7) * 8);
	__asm__ volatile("" ::: "memory");
	return p;
}

__attribute__((noinline)) static void *path_b(unsigned v, int depth);

__attribute__((noinline)) static void *path_a(unsigned v, int depth)
{
	void *p = depth == 0 ? leaf(v) : (v & 1) ? path_b(v >> 1, depth - 1) : path_a(v >> 1, depth - 1);
	__asm__ volatile("" ::: "memory");
	return p;
}

__attribute__((noinline)) static void *path_b(unsigned v, int depth)
{
	void *p = depth == 0 ? leaf(v) : (v & 1) ? path_a(v >> 1, depth - 1) : path_b(v >> 1, depth - 1);
	__asm__ volatile("" ::: "memory");
	return p;
}

int main(int argc, char **argv)
{
	const char *stop = argc > 1 ? argv[1] : "/nonexistent";
	unsigned seed = 1;
	for (unsigned i = 0; i < LIVE; i++)
		live[i] = path_a(i % 16384, 14);
	printf("ready\n");
	fflush(stdout);
	while (access(stop, F_OK) != 0) {
		for (int k = 0; k < 20000; k++) {
			seed = seed * 1103515245u + 12345u;
			unsigned i = (seed >> 8) % LIVE;
			free(live[i]);
			live[i] = path_a((seed >> 4) % 16384, 14);
		}
		usleep(20000);
	}
	return 0;
}
