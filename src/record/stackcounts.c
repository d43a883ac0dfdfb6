/*
 * stackcounts.c - four 64-bit counters per interned call stack, kept
 * without a lock: the heap profile counts allocations and frees in them,
 * the block and mutex profiles contentions and delays.
 *
 * Stack ids are dense (stacks.c), so a table is an array indexed by id,
 * allocated from the arena in chunks of 4096 counters as ids appear; a
 * chunk is published with one compare-and-swap. Writers add with atomic
 * adds. The four counters are two pairs, v[0]/v[1] and v[2]/v[3]: a count
 * and its companion (bytes, delay). Writers add the companion first and
 * the count last with release; readers load the count with acquire, then
 * its companion, the second pair before the first. So a count is never
 * seen without its bytes, and for the heap (allocations, frees) the frees
 * read are never ahead of the allocations: in-use values never go
 * negative.
 *
 * Not for signal handlers (chunks come from the arena).
 */
#include "arena.h"
#include "stacks.h"

#include <stdatomic.h>

struct nprof_counts *nprof__stackcounts_at(struct nprof_stackcounts *t, uint32_t id, int make)
{
	uint32_t c = id / NPROF_SC_CHUNK;
	if (c >= NPROF_SC_MAX_CHUNKS)
		return NULL;
	struct nprof_counts *b = atomic_load_explicit(&t->chunks[c], memory_order_acquire);
	if (b == NULL && make) {
		struct nprof_counts *fresh = nprof__arena_alloc(sizeof *fresh * NPROF_SC_CHUNK);
		if (fresh == NULL)
			return NULL;
		if (atomic_compare_exchange_strong(&t->chunks[c], &b, fresh))
			b = fresh;
		else
			nprof__arena_free(fresh); /* another thread won; b is its chunk */
	}
	return b != NULL ? &b[id % NPROF_SC_CHUNK] : NULL;
}

void nprof__stackcounts_each(struct nprof_stackcounts *t, nprof_counts_fn fn, void *ctx)
{
	uint32_t n = nprof__stack_count();
	for (uint32_t id = 1; id <= n; id++) {
		struct nprof_counts *b = nprof__stackcounts_at(t, id, 0);
		if (b == NULL) {
			id = (id / NPROF_SC_CHUNK + 1) * NPROF_SC_CHUNK - 1; /* skip the chunk */
			continue;
		}
		int64_t v[4];
		v[2] = atomic_load_explicit(&b->v[2], memory_order_acquire);
		v[3] = atomic_load_explicit(&b->v[3], memory_order_relaxed);
		v[0] = atomic_load_explicit(&b->v[0], memory_order_acquire);
		v[1] = atomic_load_explicit(&b->v[1], memory_order_relaxed);
		if (v[0] != 0)
			fn(ctx, id, v);
	}
}

struct rows_ctx {
	struct nprof_counts_row *rows;
	size_t len, cap;
	int failed;
};

static void add_row(void *arg, uint32_t id, const int64_t v[4])
{
	struct rows_ctx *c = arg;
	if (c->failed)
		return;
	if (c->len == c->cap) {
		size_t ncap = c->cap ? c->cap * 2 : 64;
		struct nprof_counts_row *g = nprof__arena_realloc(c->rows, sizeof *g * ncap);
		if (g == NULL) {
			c->failed = 1;
			return;
		}
		c->rows = g;
		c->cap = ncap;
	}
	struct nprof_counts_row *r = &c->rows[c->len++];
	r->id = id;
	for (int i = 0; i < 4; i++)
		r->v[i] = v[i];
}

static struct nprof_counts_row *rows_done(struct rows_ctx *c, size_t *nrows)
{
	if (c->failed || c->rows == NULL) {
		nprof__arena_free(c->rows);
		*nrows = 0;
		/* An empty table is not a failure: hand back a zero-length block. */
		return c->failed ? NULL : nprof__arena_alloc(sizeof *c->rows);
	}
	*nrows = c->len;
	return c->rows;
}

struct nprof_counts_row *nprof__stackcounts_rows(struct nprof_stackcounts *t, size_t *nrows)
{
	struct rows_ctx c = {0};
	nprof__stackcounts_each(t, add_row, &c);
	return rows_done(&c, nrows);
}

struct nprof_counts_row *nprof__stackcounts_rows_of(void (*each)(nprof_counts_fn fn, void *ctx),
						   size_t *nrows)
{
	struct rows_ctx c = {0};
	each(add_row, &c);
	return rows_done(&c, nrows);
}
