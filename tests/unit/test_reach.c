/*
 * test_reach.c - the sampled range's block listing (heap_region_slab.c) and the
 * conservative scan (reach.c), driven through their internal API: blocks
 * listed in address order with their sizes, stacks and generations; a
 * block referenced from a global, from the stack, from inside another block
 * or only through an interior pointer is reachable; a lost block is a
 * direct leak and what only it references is an indirect one; with the
 * spare byte, a pointer one past a block's end does not keep the next
 * block alive.
 */
#include "heap_region.h"
#include "reach.h"
#include "unit.h"

#include <string.h>

/* Under a sanitizer, locals live in the sanitizer's own memory (fake
 * stacks, shadow), which keeps stale pointers the wipe cannot reach: the
 * scan then sees more as reachable, which is its conservative side, so
 * only the listing is checked there. */
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define SANITIZED 1
#endif
#endif
#ifndef SANITIZED
#define SANITIZED 0
#endif

void *volatile global_ref;              /* a root: module data */
void *volatile global_interior;
void *volatile global_end;              /* one past a buffer's end, as stdio keeps */

static int state_of(const struct nprof_reach *r, const void *p)
{
	for (size_t i = 0; i < r->n; i++)
		if (r->blocks[i].addr == (uintptr_t)p)
			return r->state[i];
	return -1;
}

static void *alloc(size_t n)
{
	void *p = nprof__region_alloc(n, 16, 1, 1);
	CHECK(p != NULL);
	return p;
}

/* The lost blocks are made in a frame of their own that is then wiped,
 * so no stale local keeps them (a real test case returns the same way). */
static __attribute__((noinline)) void make_lost(void)
{
	void **b = alloc(64);                   /* lost: direct */
	void *c = alloc(200);                   /* only in b: indirect */
	void *f = alloc(4096);                  /* only an end pointer to it */
	void **g = alloc(16);                   /* holds f's end pointer; lost */
	b[0] = c;
	g[0] = (char *)f + 4096;
	__asm__ volatile("" : : "r"(b), "r"(g) : "memory");
}

/* A buffer whose end pointer only is kept (in a global, as stdio keeps
 * one) and the block right after it. Their addresses come back
 * disguised, so that no local of the test keeps them. */
static __attribute__((noinline)) void make_end(uintptr_t *buf_x, uintptr_t *after_x)
{
	char *buf = alloc(4096);
	void *after = alloc(4096);
	CHECK((char *)after >= buf + 4096);
	global_end = buf + 4096;
	*buf_x = (uintptr_t)buf ^ 0xa5a5a5a5a5a5a5a5u;
	*after_x = (uintptr_t)after ^ 0xa5a5a5a5a5a5a5a5u;
}

static __attribute__((noinline)) void wipe(void)
{
	char dead[16384];
	explicit_bzero(dead, sizeof dead);
	__asm__ volatile("" : : "r"(dead) : "memory");
}

int main(void)
{
	CHECK(nprof__region_init() == 0);
	nprof__region_pad = 1;
	uint16_t g0 = nprof__region_mark();

	void *a = alloc(100);                   /* global_ref */
	void *d = alloc(48);                    /* interior pointer from a global */
	void **e = alloc(32);                   /* reached through a */
	void *volatile on_stack = alloc(24);    /* the stack */
	uintptr_t buf_x, after_x;
	make_end(&buf_x, &after_x);
	make_lost();
	global_ref = a;
	memcpy(a, &e, sizeof e);
	global_interior = (char *)d + 17;
	e = NULL;
	wipe();

	struct nprof_reach r;
	CHECK(nprof__reach_scan(&r) == 0);
	CHECK(r.n == 10);
	for (size_t i = 1; i < r.n; i++)
		CHECK(r.blocks[i - 1].addr < r.blocks[i].addr);
	for (size_t i = 0; i < r.n; i++)
		CHECK((uint16_t)(r.blocks[i].gen - g0) == 1 && r.blocks[i].stack == 1);
	CHECK(state_of(&r, a) == NPROF_REACH_REACHABLE);
	CHECK(state_of(&r, d) == NPROF_REACH_REACHABLE);
	CHECK(state_of(&r, *(void **)a) == NPROF_REACH_REACHABLE);
	CHECK(state_of(&r, on_stack) == NPROF_REACH_REACHABLE);
	if (!SANITIZED) {
		int leaked = 0, indirect = 0;
		for (size_t i = 0; i < r.n; i++) {
			leaked += r.state[i] == NPROF_REACH_LEAKED;
			indirect += r.state[i] == NPROF_REACH_INDIRECT;
			if (r.blocks[i].size == 200)
				CHECK_MSG(r.state[i] == NPROF_REACH_INDIRECT, "c: %d", r.state[i]);
		}
		/* An end pointer alone does not keep its buffer (as in LSan), and
		 * thanks to the spare byte it does not keep the block after it
		 * either; b, f, g, the buffer and `after` are direct, c indirect. */
		int sb = state_of(&r, (void *)(buf_x ^ 0xa5a5a5a5a5a5a5a5u));
		int sa = state_of(&r, (void *)(after_x ^ 0xa5a5a5a5a5a5a5a5u));
		CHECK_MSG(sb == NPROF_REACH_LEAKED && sa == NPROF_REACH_LEAKED, "buffer %d, after %d", sb, sa);
		CHECK_MSG(leaked == 5 && indirect == 1, "leaked %d indirect %d", leaked, indirect);
	}
	nprof__reach_free(&r);

	/* A freed block is no longer listed and its memory is zeroed. */
	uint32_t st;
	size_t sz;
	CHECK(nprof__region_free(a, &st, &sz) == 0 && sz == 100);
	CHECK(((char *)a)[50] == 0);
	struct nprof_region_block blk[16];
	CHECK(nprof__region_blocks(blk, 16) == 9);
	return unit_done("test_reach");
}
