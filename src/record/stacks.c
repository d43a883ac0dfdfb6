/*
 * stacks.c - interning call stacks: one copy of each distinct stack, named
 * by a small integer id.
 *
 * Heap samples, thread creations and descriptors all refer to the stack
 * that made them; most share a few thousand distinct stacks, so each is
 * stored once and records keep a 32-bit id. Ids start at 1; 0 means "no
 * stack" (capture failed, or the table was full and the stack dropped).
 *
 * Structure: an open-addressing table of ids keyed by the stack's hash,
 * and a directory of records indexed by id. A record never changes once
 * published, so readers (profile builders) take no lock: they read ids up
 * to nprof__stack_count(). Insertion takes `intern_lock`, a mutex that is
 * never taken from a signal handler; fork holds it across the fork.
 *
 * The table is sized to use: it starts at 4,096 slots (16 KiB) and doubles,
 * rehashed under the lock, whenever it would pass 2/3 full, up to 2M slots.
 * A fixed 2M-slot table cost 8 MiB of RSS once a few thousand stacks had
 * touched its pages, and 8 MiB of the program's address space (RLIMIT_AS)
 * from the first sample. A lookup without the lock may still be reading an
 * older table: a hit there is right (records never change), and a miss
 * goes on to the locked path, which reads the current one. So old tables
 * are never unmapped; together they are smaller than the current one.
 */
#include "arena.h"
#include "base.h"
#include "stacks.h"

#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/mman.h>

#define FIRST_BITS 12                      /* 4,096 slots, 16 KiB */
#define MAX_BITS 21                        /* 2M slots: ~1.4M stacks at 2/3 load */
#define MAX_STACKS ((1u << MAX_BITS) / 3 * 2)
#define DIR_CHUNK 65536                    /* records per directory chunk */

struct stack_rec {
	uint64_t hash;
	uint32_t n;
	uintptr_t pcs[];
};

static pthread_mutex_t intern_lock = PTHREAD_MUTEX_INITIALIZER;
struct table {
	unsigned bits;
	_Atomic uint32_t slot[];                /* slot -> id, 0 empty */
};

static struct table *_Atomic table;
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

static size_t slot_of(uint64_t h, unsigned bits)
{
	return (size_t)(h >> (64 - bits));
}

/* Where id's hash lands in t: the first empty slot from its home. */
static void place(struct table *t, uint32_t id)
{
	size_t mask = ((size_t)1 << t->bits) - 1;
	size_t i = slot_of(rec_of(id)->hash, t->bits);
	while (atomic_load_explicit(&t->slot[i], memory_order_relaxed) != 0)
		i = (i + 1) & mask;
	atomic_store_explicit(&t->slot[i], id, memory_order_relaxed);
}

/* A table that holds `count + 1` stacks under 2/3 load: the current one,
 * or a new one twice as large (rehashed, then published). intern_lock held.
 * NULL when it cannot be mapped (the program's RLIMIT_AS) - the stack is
 * then dropped, counted, and the old table stays in use. */
static struct table *table_for(uint32_t count)
{
	struct table *t = atomic_load_explicit(&table, memory_order_relaxed);
	if (t != NULL && (uint64_t)(count + 1) * 3 <= ((uint64_t)2 << t->bits))
		return t;
	unsigned bits = t == NULL ? FIRST_BITS : t->bits + 1;
	if (bits > MAX_BITS)
		return NULL;
	void *p = mmap(NULL, sizeof(struct table) + sizeof(uint32_t) * ((size_t)1 << bits),
		       PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return NULL;
	struct table *nt = p;
	nt->bits = bits;
	for (uint32_t id = 1; id <= count; id++)
		place(nt, id);
	/* Release: a reader that sees the new table sees its slots. */
	atomic_store_explicit(&table, nt, memory_order_release);
	return nt;
}

uint32_t nprof__stack_intern(const uintptr_t *pcs, int n)
{
	if (n < 0)
		n = 0;
	if (n > NPROF_MAX_FRAMES)
		n = NPROF_MAX_FRAMES;
	uint64_t h = hash_pcs(pcs, n);

	/* Lock-free lookup of a stack seen before: the common case. */
	struct table *t = atomic_load_explicit(&table, memory_order_acquire);
	if (t != NULL) {
		size_t mask = ((size_t)1 << t->bits) - 1;
		for (size_t i = slot_of(h, t->bits);; i = (i + 1) & mask) {
			uint32_t id = atomic_load_explicit(&t->slot[i], memory_order_acquire);
			if (id == 0)
				break;
			if (same(rec_of(id), h, pcs, n))
				return id;
		}
	}

	uint32_t id = 0;
	/* The hook guard is set while intern_lock is held: nprof's own mutex
	 * override must not record a wait on it (recording interns a stack). */
	int guard = nprof__guard;
	nprof__guard = 1;
	pthread_mutex_lock(&intern_lock);
	t = atomic_load_explicit(&table, memory_order_relaxed);
	if (t != NULL) {
		size_t mask = ((size_t)1 << t->bits) - 1;
		for (size_t i = slot_of(h, t->bits);; i = (i + 1) & mask) {
			uint32_t cur = atomic_load_explicit(&t->slot[i], memory_order_relaxed);
			if (cur == 0)
				break;
			if (same(rec_of(cur), h, pcs, n)) {
				id = cur;
				goto out;
			}
		}
	}
	uint32_t count = atomic_load_explicit(&nstacks, memory_order_relaxed);
	if (count >= MAX_STACKS || (t = table_for(count)) == NULL)
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
	size_t mask = ((size_t)1 << t->bits) - 1;
	size_t i = slot_of(h, t->bits);
	while (atomic_load_explicit(&t->slot[i], memory_order_relaxed) != 0)
		i = (i + 1) & mask;
	atomic_store_explicit(&t->slot[i], id, memory_order_release);
out:
	pthread_mutex_unlock(&intern_lock);
	nprof__guard = guard;
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
