/*
 * stacks.c - interning call stacks: one copy of each distinct stack, named
 * by a small integer id.
 *
 * Heap samples, thread creations and descriptors all refer to the stack
 * that made them; most share a few thousand distinct stacks, so each is
 * stored once and records keep a 32-bit id. Ids start at 1; 0 means "no
 * stack" (capture failed, or the table was full and the stack dropped).
 *
 * Structure: an open-addressing table of ids keyed by the stack's hash
 * (a MAP_NORESERVE mapping, so untouched slots cost no memory), and a
 * directory of records indexed by id. A record never changes once
 * published, so readers (profile builders) take no lock: they read ids up
 * to nprof__stack_count(). Insertion takes `intern_lock`, a mutex that is
 * never taken from a signal handler; fork holds it across the fork.
 */
#include "arena.h"
#include "stacks.h"

#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/mman.h>

#define TABLE_BITS 21                      /* 2M slots: ~1.4M stacks at 2/3 load */
#define TABLE_SLOTS (1u << TABLE_BITS)
#define MAX_STACKS (TABLE_SLOTS / 3 * 2)
#define DIR_CHUNK 65536                    /* records per directory chunk */

struct stack_rec {
	uint64_t hash;
	uint32_t n;
	uintptr_t pcs[];
};

static pthread_mutex_t intern_lock = PTHREAD_MUTEX_INITIALIZER;
static _Atomic uint32_t *table;            /* slot -> id */
static struct stack_rec **dir[MAX_STACKS / DIR_CHUNK + 1];
static atomic_uint nstacks;
static atomic_long dropped;

static uint64_t hash_pcs(const uintptr_t *pcs, int n)
{
	uint64_t h = 0x9e3779b97f4a7c15ULL ^ (uint64_t)n;
	for (int i = 0; i < n; i++) {
		h ^= pcs[i];
		h *= 0xff51afd7ed558ccdULL;
		h ^= h >> 32;
	}
	return h;
}

static struct stack_rec *rec_of(uint32_t id)
{
	uint32_t i = id - 1;
	return dir[i / DIR_CHUNK][i % DIR_CHUNK];
}

static int same(const struct stack_rec *r, uint64_t h, const uintptr_t *pcs, int n)
{
	return r->hash == h && r->n == (uint32_t)n && memcmp(r->pcs, pcs, sizeof *pcs * (size_t)n) == 0;
}

/* Maps the table on first use; intern_lock held. */
static int ensure_table(void)
{
	if (table != NULL)
		return 0;
	void *p = mmap(NULL, sizeof(uint32_t) * TABLE_SLOTS, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (p == MAP_FAILED)
		return -1;
	table = p;
	return 0;
}

uint32_t nprof__stack_intern(const uintptr_t *pcs, int n)
{
	if (n < 0)
		n = 0;
	if (n > NPROF_MAX_FRAMES)
		n = NPROF_MAX_FRAMES;
	uint64_t h = hash_pcs(pcs, n);
	size_t slot = (size_t)(h >> (64 - TABLE_BITS));

	/* Lock-free lookup of a stack seen before: the common case. */
	if (table != NULL) {
		for (size_t i = slot;; i = (i + 1) & (TABLE_SLOTS - 1)) {
			uint32_t id = atomic_load_explicit(&table[i], memory_order_acquire);
			if (id == 0)
				break;
			if (same(rec_of(id), h, pcs, n))
				return id;
		}
	}

	uint32_t id = 0;
	pthread_mutex_lock(&intern_lock);
	if (ensure_table() < 0)
		goto out;
	size_t i = slot;
	for (;; i = (i + 1) & (TABLE_SLOTS - 1)) {
		uint32_t cur = atomic_load_explicit(&table[i], memory_order_relaxed);
		if (cur == 0)
			break;
		if (same(rec_of(cur), h, pcs, n)) {
			id = cur;
			goto out;
		}
	}
	uint32_t count = atomic_load_explicit(&nstacks, memory_order_relaxed);
	if (count >= MAX_STACKS)
		goto out;
	struct stack_rec ***chunk = &dir[count / DIR_CHUNK];
	if (*chunk == NULL && (*chunk = nprof__arena_alloc(sizeof(**chunk) * DIR_CHUNK)) == NULL)
		goto out;
	struct stack_rec *r = nprof__arena_alloc(sizeof *r + sizeof *pcs * (size_t)n);
	if (r == NULL)
		goto out;
	r->hash = h;
	r->n = (uint32_t)n;
	memcpy(r->pcs, pcs, sizeof *pcs * (size_t)n);
	(*chunk)[count % DIR_CHUNK] = r;
	id = count + 1;
	atomic_store_explicit(&nstacks, id, memory_order_release);
	atomic_store_explicit(&table[i], id, memory_order_release);
out:
	pthread_mutex_unlock(&intern_lock);
	if (id == 0)
		atomic_fetch_add_explicit(&dropped, 1, memory_order_relaxed);
	return id;
}

const uintptr_t *nprof__stack_get(uint32_t id, int *n)
{
	if (id == 0 || id > atomic_load_explicit(&nstacks, memory_order_acquire)) {
		*n = 0;
		return NULL;
	}
	const struct stack_rec *r = rec_of(id);
	*n = (int)r->n;
	return r->pcs;
}

uint32_t nprof__stack_count(void)
{
	return atomic_load_explicit(&nstacks, memory_order_acquire);
}

long nprof__stack_dropped(void)
{
	return atomic_load_explicit(&dropped, memory_order_relaxed);
}

void nprof__stack_prefork(void)
{
	pthread_mutex_lock(&intern_lock);
}

void nprof__stack_postfork(void)
{
	pthread_mutex_unlock(&intern_lock);
}
