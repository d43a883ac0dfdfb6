/*
 * heap_mixed.c - holds a known amount of heap from three call sites, with
 * churn, for the heap profile's accuracy test (tests/integration/heap_profile.sh).
 *
 *   heap_mixed SCALE [SEED]
 *
 * Site small holds 100*SCALE MiB in blocks of 16-512 B, site medium
 * 200*SCALE MiB in 1-64 KiB, site large 700*SCALE MiB in 64 KiB-1 MiB.
 * Each site allocates twice its target, freeing random earlier blocks, so
 * what stays is a mix of old and new. The exact bytes and blocks held per
 * site are printed ("site NAME BYTES OBJECTS"), then "ready", then the
 * program waits to be killed. Each malloc line is marked SITE_<name> so
 * the test can find it.
 */
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

struct site {
	const char *name;
	void **ptrs;
	size_t *sizes;
	size_t n, cap, bytes;
};

static uint64_t rng = 88172645463325252ULL;

static uint64_t next(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

/* Log-uniform in [lo, hi]: every scale of size is represented. */
static size_t size_in(size_t lo, size_t hi)
{
	double u = (double)(next() >> 11) / 9007199254740992.0;
	double l = __builtin_log((double)lo), h = __builtin_log((double)hi);
	return (size_t)__builtin_exp(l + u * (h - l));
}

static void keep(struct site *s, void *p, size_t n)
{
	if (s->n == s->cap) {
		s->cap = s->cap ? s->cap * 2 : 1024;
		s->ptrs = realloc(s->ptrs, s->cap * sizeof *s->ptrs);
		s->sizes = realloc(s->sizes, s->cap * sizeof *s->sizes);
		if (s->ptrs == NULL || s->sizes == NULL)
			abort();
	}
	s->ptrs[s->n] = p;
	s->sizes[s->n++] = n;
	s->bytes += n;
}

static void drop_random(struct site *s)
{
	size_t i = next() % s->n;
	free(s->ptrs[i]);
	s->bytes -= s->sizes[i];
	s->ptrs[i] = s->ptrs[--s->n];
	s->sizes[i] = s->sizes[s->n];
}

__attribute__((noinline)) static void *alloc_small(size_t n)
{
	char *p = malloc(n); /* SITE_small */
	if (p != NULL)
		p[n - 1] = 1; /* no tail call: this frame stays in the stack */
	return p;
}

__attribute__((noinline)) static void *alloc_medium(size_t n)
{
	char *p = malloc(n); /* SITE_medium */
	if (p != NULL)
		p[n - 1] = 1; /* no tail call: this frame stays in the stack */
	return p;
}

__attribute__((noinline)) static void *alloc_large(size_t n)
{
	char *p = malloc(n); /* SITE_large */
	if (p != NULL)
		p[n - 1] = 1; /* no tail call: this frame stays in the stack */
	return p;
}

static void fill(struct site *s, void *(*fn)(size_t), size_t lo, size_t hi, size_t target)
{
	size_t allocated = 0;
	while (allocated < 2 * target) {
		size_t n = lo == 16 ? lo + next() % (hi - lo + 1) : size_in(lo, hi);
		void *p = fn(n);
		if (p == NULL)
			abort();
		allocated += n;
		keep(s, p, n);
		while (s->bytes > target)
			drop_random(s);
	}
}

int main(int argc, char **argv)
{
	double scale = argc > 1 ? atof(argv[1]) : 1.0;
	if (argc > 2)
		rng ^= (uint64_t)atoll(argv[2]) * 0x9e3779b97f4a7c15ULL;
	const size_t MiB = 1 << 20;
	struct site small = {"small"}, medium = {"medium"}, large = {"large"};
	fill(&small, alloc_small, 16, 512, (size_t)(100 * scale * MiB));
	fill(&medium, alloc_medium, 1024, 65536, (size_t)(200 * scale * MiB));
	fill(&large, alloc_large, 65536, MiB, (size_t)(700 * scale * MiB));
	struct site *all[] = {&small, &medium, &large};
	for (int i = 0; i < 3; i++)
		printf("site %s %zu %zu\n", all[i]->name, all[i]->bytes, all[i]->n);
	printf("ready\n");
	fflush(stdout);
	for (;;)
		pause();
}
