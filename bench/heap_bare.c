/*
 * heap_bare.c - the floor for any malloc interposer (bench/heap.sh): a
 * preloadable layer whose malloc, free, calloc and realloc only forward
 * to the next definition (glibc's), through pointers found with
 * dlsym(RTLD_NEXT). dlsym may calloc before the pointers are known: those
 * calls get a small static pool, whose blocks free ignores.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

static void *boot_malloc(size_t n);
static void *boot_calloc(size_t a, size_t b);
static void *boot_realloc(void *p, size_t n);
static void boot_free(void *p);

static void *(*next_malloc)(size_t) = boot_malloc;
static void *(*next_calloc)(size_t, size_t) = boot_calloc;
static void *(*next_realloc)(void *, size_t) = boot_realloc;
static void (*next_free)(void *) = boot_free;

static char pool[65536] __attribute__((aligned(16)));
static size_t pool_used;
static int resolving;

static void *pool_alloc(size_t n)
{
	n = (n + 15) & ~(size_t)15;
	if (pool_used + n > sizeof pool)
		return NULL;
	void *p = pool + pool_used;
	pool_used += n;
	return p;
}

static int resolve(void)
{
	if (resolving)
		return 0;
	resolving = 1;
	void *m = dlsym(RTLD_NEXT, "malloc"), *c = dlsym(RTLD_NEXT, "calloc");
	void *r = dlsym(RTLD_NEXT, "realloc"), *f = dlsym(RTLD_NEXT, "free");
	next_malloc = m;
	next_calloc = c;
	next_realloc = r;
	next_free = f;
	resolving = 0;
	return 1;
}

static void *boot_malloc(size_t n)
{
	return resolve() ? next_malloc(n) : pool_alloc(n);
}

static void *boot_calloc(size_t a, size_t b)
{
	return resolve() ? next_calloc(a, b) : pool_alloc(a * b); /* pool is zero */
}

static void *boot_realloc(void *p, size_t n)
{
	return resolve() ? next_realloc(p, n) : NULL;
}

static void boot_free(void *p)
{
	(void)p;
}

void *malloc(size_t n)
{
	return next_malloc(n);
}

void free(void *p)
{
	if ((uintptr_t)p - (uintptr_t)pool < sizeof pool)
		return;
	next_free(p);
}

void *calloc(size_t a, size_t b)
{
	return next_calloc(a, b);
}

void *realloc(void *p, size_t n)
{
	if ((uintptr_t)p - (uintptr_t)pool < sizeof pool && p != NULL) {
		void *q = next_malloc(n);
		if (q != NULL)
			memcpy(q, p, n); /* pool blocks are tiny, the pool is readable */
		return q;
	}
	return next_realloc(p, n);
}
