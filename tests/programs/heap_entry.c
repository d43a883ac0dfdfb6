/*
 * heap_entry.c - every allocation entry point, checked for its result and,
 * at NPROF_HEAP_RATE=1, for exact accounting (tests/preload/heap_entry.sh).
 *
 * Part 1 checks semantics (alignment, zeroing, EINVAL, ENOMEM, usable
 * size, realloc contents, errno kept on success) and exits 1 on a
 * mismatch; it is also run without nprof. Part 2 calls each entry point
 * from its own function, 10 times, keeping 7 blocks and freeing 3, and
 * prints "expect FUNC INUSE_BYTES INUSE_OBJECTS ALLOC_BYTES ALLOC_OBJECTS"
 * for the test to compare with the heap profile written at exit (NPROF_OUT).
 */
#include <errno.h>
#include <malloc.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int failures;
/* Hidden from the compiler, which would refuse the obviously huge sizes. */
static volatile size_t huge = SIZE_MAX / 2;

#define CHECK(c)                                                             \
	do {                                                                 \
		if (!(c)) {                                                  \
			fprintf(stderr, "heap_entry.c:%d: %s\n", __LINE__, #c); \
			failures++;                                          \
		}                                                            \
	} while (0)

static int aligned(const void *p, size_t a)
{
	return ((uintptr_t)p & (a - 1)) == 0;
}

static void semantics(void)
{
	long page = sysconf(_SC_PAGESIZE);
	for (size_t n = 0; n <= (4u << 20); n = n ? n * 3 : 1) {
		errno = 4242;
		char *p = malloc(n);
		CHECK(p != NULL && errno == 4242);
		CHECK(aligned(p, 16));
		CHECK(malloc_usable_size(p) >= n);
		memset(p, 0xa5, malloc_usable_size(p));
		free(p);
		CHECK(errno == 4242);
		unsigned char *z = calloc(n, 1);
		CHECK(z != NULL && errno == 4242);
		for (size_t i = 0; z != NULL && i < n; i++)
			if (z[i] != 0) {
				CHECK(z[i] == 0);
				break;
			}
		free(z);
	}
	errno = 0;
	CHECK(calloc(huge, 3) == NULL && errno == ENOMEM);
	errno = 0;
	CHECK(malloc(huge * 2 - 4096) == NULL && errno == ENOMEM);
	CHECK(malloc_usable_size(NULL) == 0);
	free(NULL);

	/* realloc keeps contents, both ways across every size range */
	size_t sizes[] = {1, 24, 200, 5000, 70000, 300000, 2000000, 100, 0};
	char *r = NULL;
	size_t have = 0;
	for (size_t i = 0; sizes[i] != 0; i++) {
		errno = 4242;
		char *q = realloc(r, sizes[i]);
		CHECK(q != NULL && errno == 4242);
		size_t keep = have < sizes[i] ? have : sizes[i];
		for (size_t k = 0; k < keep; k++)
			if (q[k] != (char)(k * 7)) {
				CHECK(q[k] == (char)(k * 7));
				break;
			}
		for (size_t k = 0; k < sizes[i]; k++)
			q[k] = (char)(k * 7);
		r = q;
		have = sizes[i];
	}
	CHECK(realloc(r, 0) == NULL); /* glibc: frees, returns NULL */
	r = realloc(NULL, 10);
	CHECK(r != NULL);
	free(r);

	errno = 0;
	CHECK(reallocarray(NULL, huge, 3) == NULL && errno == ENOMEM);
	r = reallocarray(NULL, 10, 10);
	CHECK(r != NULL && malloc_usable_size(r) >= 100);
	free(r);

	void *p = (void *)1;
	CHECK(posix_memalign(&p, 3, 10) == EINVAL);
	CHECK(posix_memalign(&p, 4, 10) == EINVAL); /* not a multiple of sizeof(void *) */
	size_t aligns[] = {8, 16, 32, 64, 4096, 65536, 1 << 20, 4 << 20};
	size_t lens[] = {1, 100, 5000, 100000, 3 << 20};
	for (size_t a = 0; a < sizeof aligns / sizeof aligns[0]; a++)
		for (size_t l = 0; l < sizeof lens / sizeof lens[0]; l++) {
			errno = 4242;
			CHECK(posix_memalign(&p, aligns[a], lens[l]) == 0 && aligned(p, aligns[a]));
			CHECK(malloc_usable_size(p) >= lens[l]);
			free(p);
			p = memalign(aligns[a], lens[l]);
			CHECK(p != NULL && aligned(p, aligns[a]));
			free(p);
			p = aligned_alloc(aligns[a], lens[l]);
			CHECK(p != NULL && aligned(p, aligns[a]));
			free(p);
			CHECK(errno == 4242);
		}
	p = valloc(10);
	CHECK(p != NULL && aligned(p, (size_t)page));
	free(p);
	p = pvalloc(10);
	CHECK(p != NULL && aligned(p, (size_t)page) && malloc_usable_size(p) >= (size_t)page);
	free(p);
	errno = 0;
	CHECK(pvalloc(huge * 2 - 10) == NULL && errno == ENOMEM);
}

/* ---------------------------------------------------------------- */

#define N 10
#define KEEP 7
static void *held[64][N];
static int nheld;

static void expect(const char *fn, size_t size_each, size_t extra_alloc_bytes, int allocs_each)
{
	printf("expect %s %zu %d %zu %d\n", fn, size_each * KEEP, KEEP,
	       (size_each + extra_alloc_bytes) * N, allocs_each * N);
}

static void finish(void **v)
{
	for (int i = KEEP; i < N; i++)
		free(v[i]);
}

__attribute__((noinline)) static void use_malloc(void)
{
	void **v = held[nheld++];
	for (int i = 0; i < N; i++)
		v[i] = malloc(1000);
	finish(v);
	expect("use_malloc", 1000, 0, 1);
}

__attribute__((noinline)) static void use_calloc(void)
{
	void **v = held[nheld++];
	for (int i = 0; i < N; i++)
		v[i] = calloc(30, 11);
	finish(v);
	expect("use_calloc", 330, 0, 1);
}

__attribute__((noinline)) static void use_realloc(void)
{
	void **v = held[nheld++];
	for (int i = 0; i < N; i++) {
		v[i] = realloc(NULL, 100);
		v[i] = realloc(v[i], 3000);
	}
	finish(v);
	expect("use_realloc", 3000, 100, 2);
}

__attribute__((noinline)) static void use_reallocarray(void)
{
	void **v = held[nheld++];
	for (int i = 0; i < N; i++) {
		v[i] = reallocarray(NULL, 10, 20);
		v[i] = reallocarray(v[i], 10, 50);
	}
	finish(v);
	expect("use_reallocarray", 500, 200, 2);
}

__attribute__((noinline)) static void use_posix_memalign(void)
{
	void **v = held[nheld++];
	for (int i = 0; i < N; i++)
		if (posix_memalign(&v[i], 256, 700) != 0)
			abort();
	finish(v);
	expect("use_posix_memalign", 700, 0, 1);
}

__attribute__((noinline)) static void use_aligned_alloc(void)
{
	void **v = held[nheld++];
	for (int i = 0; i < N; i++)
		v[i] = aligned_alloc(128, 1280);
	finish(v);
	expect("use_aligned_alloc", 1280, 0, 1);
}

__attribute__((noinline)) static void use_memalign(void)
{
	void **v = held[nheld++];
	for (int i = 0; i < N; i++)
		v[i] = memalign(1 << 16, 200000);
	finish(v);
	expect("use_memalign", 200000, 0, 1);
}

__attribute__((noinline)) static void use_valloc(void)
{
	void **v = held[nheld++];
	for (int i = 0; i < N; i++)
		v[i] = valloc(5000);
	finish(v);
	expect("use_valloc", 5000, 0, 1);
}

__attribute__((noinline)) static void use_pvalloc(void)
{
	void **v = held[nheld++];
	long page = sysconf(_SC_PAGESIZE);
	for (int i = 0; i < N; i++)
		v[i] = pvalloc(5000);
	finish(v);
	/* pvalloc rounds the request up to whole pages. */
	expect("use_pvalloc", ((size_t)5000 + (size_t)page - 1) / (size_t)page * (size_t)page, 0, 1);
}

int main(int argc, char **argv)
{
	semantics();
	if (failures != 0) {
		fprintf(stderr, "%d semantic checks failed\n", failures);
		return 1;
	}
	printf("semantics ok\n");
	if (argc > 1 && strcmp(argv[1], "semantics") == 0)
		return 0;
	use_malloc();
	use_calloc();
	use_realloc();
	use_reallocarray();
	use_posix_memalign();
	use_aligned_alloc();
	use_memalign();
	use_valloc();
	use_pvalloc();
	fflush(stdout);
	return 0;
}
