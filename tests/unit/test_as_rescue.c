/*
 * test_as_rescue.c - limit_hooks.c's rescue of glibc's page-per-block
 * blocks, driven with made-up chunks so that every case is certain: a
 * chunk marked mmapped and small moves to the sampled range - its bytes
 * copied (realloc), zeroed (calloc, on slots just dirtied and freed) or
 * left - and the old one goes to the free function; a chunk glibc did not
 * map on its own, a block of the mmap size or more, and NULL are not
 * picked (nprof__as_alone).
 */
#include "heap_region.h"
#include "hooks.h"
#include "unit.h"

#include <stdint.h>
#include <string.h>

#define N 64

static void *freed[N + 8];
static int nfreed;

static void fake_free(void *p)
{
	if (nfreed < (int)(sizeof freed / sizeof freed[0]))
		freed[nfreed] = p;
	nfreed++;
}

/* A chunk as glibc lays it out: the size word just before the block,
 * IS_MMAPPED (2) set when `mapped`. */
static unsigned char *chunk(size_t *words, size_t size, int mapped)
{
	words[1] = (size + 16) | (mapped ? 2 : 0);
	return (unsigned char *)&words[2];
}

int main(void)
{
	static size_t mem[N][1200 / sizeof(size_t)];
	CHECK(nprof__region_init() == 0);

	/* realloc: the bytes come along, the chunk is given back. */
	unsigned char *p = chunk(mem[0], 1000, 1);
	for (int i = 0; i < 1000; i++)
		p[i] = (unsigned char)(i * 7 + 1);
	unsigned char *q = nprof__as_rescue(p, 1000, 2, fake_free);
	CHECK(q != p && nprof__region_owns(q));
	CHECK(nfreed == 1 && freed[0] == p);
	int same = 1;
	for (int i = 0; i < 1000; i++)
		same &= q[i] == (unsigned char)(i * 7 + 1);
	CHECK_MSG(same, "the moved block lost its bytes");
	CHECK(nprof__region_usable(q) >= 1000);

	/* calloc: slots just dirtied and freed come back zeroed. */
	void *dirty[N];
	for (int i = 0; i < N; i++) {
		dirty[i] = nprof__region_alloc(1000, 16, 0, NPROF_REGION_OWN_STACK);
		CHECK(dirty[i] != NULL);
		if (dirty[i] != NULL)
			memset(dirty[i], 0xa5, 1000);
	}
	for (int i = 0; i < N; i++) {
		uint32_t st;
		size_t sz;
		CHECK(nprof__region_free(dirty[i], &st, &sz) == 0);
	}
	nfreed = 0;
	int zero = 1, reused = 0;
	for (int i = 0; i < N; i++) {
		unsigned char *c = chunk(mem[i], 1000, 1);
		unsigned char *r = nprof__as_rescue(c, 1000, 1, fake_free);
		CHECK(r != c && nprof__region_owns(r));
		for (int k = 0; k < 1000; k++)
			zero &= r[k] == 0;
		for (int k = 0; k < N; k++)
			reused += r == dirty[k];
	}
	CHECK_MSG(zero, "a rescued calloc block was not zeroed");
	CHECK_MSG(reused > 0, "no dirtied slot was handed out again: the zeroing went untested");
	CHECK(nfreed == N);

	/* What is moved: only a small block mapped on its own - not one from
	 * a heap, not one of the mmap size or more, not NULL. */
	CHECK(nprof__as_alone(chunk(mem[3], 1000, 1), 1000));
	CHECK(nprof__as_alone(chunk(mem[3], 1000, 1), ((size_t)128 << 10) - 1));
	CHECK(!nprof__as_alone(chunk(mem[1], 1000, 0), 1000));
	CHECK(!nprof__as_alone(chunk(mem[2], 1000, 1), (size_t)128 << 10));
	CHECK(!nprof__as_alone(NULL, 1000));
	return unit_done("as_rescue");
}
