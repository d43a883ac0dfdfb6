/*
 * heap_thread.c - per-thread state of the heap recorder, so that recording
 * every allocation (NPROF_HEAP_RATE=1) takes no global lock and writes no
 * shared cache line per allocation:
 *
 *   - slot caches: per size class, a small stack of free slots of the
 *     sampled range (heap_region_slab.c), as glibc's tcache. A sampled small
 *     allocation pops one and writes its record (one word in the slab's
 *     side table); a sampled free clears the record and pushes the slot.
 *     Only an empty cache (refill: half a cache) or a full one (flush:
 *     half) takes region_lock, once per batch.
 *   - a stack cache, keyed by (return address of the allocation call,
 *     address of the slot holding it): after a full unwind, each frame's
 *     return address and the stack slot it was read from. A hit checks
 *     that every slot still holds its value (a few loads) and reuses the
 *     interned stack id without unwinding (docs/internals/heap.md says why
 *     that is exact, and its limits).
 *   - an index: the states are numbered as made, and a state is owned by
 *     one thread at a time, so the first NPROF_HEAP_SHARDS of them own a
 *     counter shard each (heap.c adds to it without atomic read-modify-
 *     write instructions).
 *
 * A thread gets a state (about 40 KiB) once it makes WARMUP sampled
 * operations within WINDOW_NS (at rate 1 at once; at the default rate a
 * thread would have to allocate 32 MiB in 16 ms, so its few samples take
 * the locked paths and libunwind, as cheap at that rate).
 * States live in the arena, in one push-only list, and are never freed:
 * a thread's state is given back at its exit by a pthread key destructor
 * (its slots flushed, owner cleared) and reused by a later thread. A
 * thread that exits without running destructors leaves its state owned: a
 * thread making a state checks up to 16 owned ones for a dead owner
 * (tgkill(pid, tid, 0) says ESRCH) and takes it over, flushing its slots.
 *
 * fork: the child has only the forking thread, whose state stays its own
 * (postfork). States of the parent's other threads (claimed under another
 * pid) may have been caught mid-operation, so their cached slots are
 * leaked (bounded: a cache each) and the structs reused.
 *
 * Locking: the list is lock-free (a CAS to push, a CAS on owner to claim);
 * refill and flush take region_lock inside heap_region_slab.c. Everything here
 * runs on the hooks' sampled paths with the hook guard raised; nothing is
 * async-signal-safe (neither is malloc).
 */
#include "arena.h"
#include "base.h"
#include "heap_region.h"
#include "heap_thread.h"
#include "stacks.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#define NCLS NPROF_REGION_NCLS
#define TC_CAP 32                   /* slots per class, at most */
#define WARMUP 64                   /* sampled operations ... */
#define WINDOW_NS 16000000          /* ... within this time: a thread gets a state */
#define SC_WAYS 32                  /* stack cache entries (16 sets of 2) */
#define SC_FRAMES 48                /* deeper stacks are unwound every time */
#define WALK_COST 16                /* hits that pay for one slot walk */
#define CREDIT_MAX (64 * WALK_COST)

struct stack_ent {
	uintptr_t ra, a0;           /* key: return address, and where it is stored */
	uint32_t id, n;             /* interned stack; frames to check */
	uint32_t off[SC_FRAMES];    /* slot address - a0 */
	uintptr_t val[SC_FRAMES];   /* the return address expected there */
};

struct heap_thread {
	struct heap_thread *next;   /* the list; never unlinked */
	_Atomic int owner;          /* owning thread's tid; 0: free */
	pid_t pid;                  /* process it was claimed in */
	int index;                  /* in order of making: counter shard when small */
	uintptr_t stack_lo, stack_hi; /* the owner's stack; 0, 0: unknown */
	struct stack_ent *sc;       /* SC_WAYS entries, or NULL */
	uint8_t victim[SC_WAYS / 2]; /* per set: the way to replace next */
	uint32_t credit;            /* slot walks allowed, in hits (see below) */
	uint16_t n[NCLS];
	struct cached {
		void *p;
		uint64_t *meta;     /* its record word, found once when taken */
	} slot[NCLS][TC_CAP];
};

static struct heap_thread *_Atomic states;
static atomic_int nstates;
static pthread_key_t exit_key;
static pthread_once_t key_once = PTHREAD_ONCE_INIT;
static int key_ok;

static NPROF_TLS struct heap_thread *tls_state;
static NPROF_TLS uint32_t tls_ops;  /* sampled operations before a state */
static NPROF_TLS uint64_t tls_window; /* when the last WARMUP operations began */
static NPROF_TLS int tls_exited;    /* past the exit destructor */
static NPROF_TLS int tls_claiming;  /* inside claim(): pthread_getattr_np allocates */

static uint8_t caps[NCLS];          /* slots cached per class: about 64 KiB */

static int cap_of(int c)
{
	if (NPROF_UNLIKELY(caps[c] == 0)) {
		size_t k = 65536 / nprof__region_class_size(c);
		caps[c] = (uint8_t)(k > TC_CAP ? TC_CAP : k < 4 ? 4 : k);
	}
	return caps[c];
}

/* Gives back the first n cached slots of class c. */
static void give(struct heap_thread *t, int c, int n)
{
	void *ps[TC_CAP];
	for (int i = 0; i < n; i++)
		ps[i] = t->slot[c][i].p;
	nprof__region_give(ps, n);
}

static void flush(struct heap_thread *t)
{
	for (int c = 0; c < NCLS; c++) {
		if (t->n[c] > 0)
			give(t, c, t->n[c]);
		t->n[c] = 0;
	}
	if (t->sc != NULL)
		memset(t->sc, 0, sizeof *t->sc * SC_WAYS);
}

static void release(void *p)
{
	struct heap_thread *t = p;
	int guard = nprof__guard;
	nprof__guard = 1;
	tls_state = NULL;
	tls_exited = 1;
	flush(t);
	atomic_store_explicit(&t->owner, 0, memory_order_release);
	nprof__guard = guard;
}

static void make_key(void)
{
	key_ok = pthread_key_create(&exit_key, release) == 0;
}

/* The calling thread's stack, for the stack cache's bounds. */
static void stack_bounds(struct heap_thread *t)
{
	pthread_attr_t a;
	void *lo;
	size_t len;
	t->stack_lo = t->stack_hi = 0;
	if (pthread_getattr_np(pthread_self(), &a) != 0)
		return;
	if (pthread_attr_getstack(&a, &lo, &len) == 0) {
		t->stack_lo = (uintptr_t)lo;
		t->stack_hi = (uintptr_t)lo + len;
	}
	pthread_attr_destroy(&a);
}

/* Finds or makes a state for the calling thread; guard raised. */
static struct heap_thread *claim(void)
{
	pthread_once(&key_once, make_key);
	if (!key_ok) {
		tls_exited = 1; /* without a destructor a state could not be returned */
		return NULL;
	}
	int me = (int)syscall(SYS_gettid);
	pid_t pid = getpid();
	struct heap_thread *t = NULL;
	int checked = 0;
	for (struct heap_thread *c = atomic_load_explicit(&states, memory_order_acquire);
	     c != NULL && t == NULL; c = c->next) {
		int o = atomic_load_explicit(&c->owner, memory_order_acquire);
		if (o == 0) {
			if (atomic_compare_exchange_strong(&c->owner, &o, me)) {
				t = c;
				flush(t);
			}
		} else if (c->pid != pid) {
			/* A thread of the parent that does not exist in this
			 * child; it may have stopped mid-operation: leak its
			 * cached slots, reuse the struct. */
			if (atomic_compare_exchange_strong(&c->owner, &o, me)) {
				t = c;
				memset(t->n, 0, sizeof t->n);
				if (t->sc != NULL)
					memset(t->sc, 0, sizeof *t->sc * SC_WAYS);
			}
		} else if (checked < 16) {
			/* An owner that exited without running destructors. */
			checked++;
			if (syscall(SYS_tgkill, pid, o, 0) < 0 && errno == ESRCH &&
			    atomic_compare_exchange_strong(&c->owner, &o, me)) {
				t = c;
				flush(t);
			}
		}
	}
	if (t == NULL) {
		t = nprof__arena_alloc(sizeof *t);
		if (t == NULL)
			return NULL;
		t->index = atomic_fetch_add(&nstates, 1);
		atomic_store(&t->owner, me);
		struct heap_thread *head = atomic_load(&states);
		do
			t->next = head;
		while (!atomic_compare_exchange_weak(&states, &head, t));
	}
	t->pid = pid;
	t->credit = CREDIT_MAX;
	stack_bounds(t);
	pthread_setspecific(exit_key, t);
	tls_state = t;
	return t;
}

/* The calling thread's state, made after WARMUP sampled operations. */
static struct heap_thread *state(void)
{
	struct heap_thread *t = tls_state;
	if (NPROF_LIKELY(t != NULL))
		return t;
	if (tls_exited || tls_claiming || ++tls_ops < WARMUP)
		return NULL;
	/* Only a thread that samples often gets a state (about 40 KiB): WARMUP
	 * sampled operations within WINDOW_NS. At rate 1 that takes
	 * microseconds; at the default rate it would take 32 MiB allocated in
	 * 16 ms, so the occasional sampler keeps the locked paths and a
	 * thousand threads do not cost 40 MB. */
	uint64_t now = (uint64_t)nprof__mono_ns();
	tls_ops = 0;
	if (tls_window == 0 || now - tls_window > WINDOW_NS) {
		tls_window = now;
		return NULL;
	}
	int guard = nprof__guard, saved = errno;
	nprof__guard = 1;
	tls_claiming = 1;
	t = claim();
	tls_claiming = 0;
	nprof__guard = guard;
	errno = saved;
	return t;
}

void *nprof__heap_thread_alloc(size_t size, size_t align, int zero, uint32_t stack)
{
	struct heap_thread *t = state();
	if (t == NULL)
		return NULL;
	int c = nprof__region_class(size, align);
	if (c < 0)
		return NULL;
	if (t->n[c] == 0) {
		void *ps[TC_CAP];
		/* Arena 0 is the locked path's: states use the others. */
		int got = nprof__region_take(c, 1 + t->index % (NPROF_REGION_NARENA - 1), ps,
					     cap_of(c) / 2);
		for (int i = 0; i < got; i++) {
			int cls;
			t->slot[c][i].p = ps[i];
			t->slot[c][i].meta = nprof__region_slot(ps[i], &cls);
		}
		t->n[c] = (uint16_t)got;
		if (got == 0)
			return NULL;
	}
	const struct cached *e = &t->slot[c][--t->n[c]];
	void *p = e->p;
	nprof__region_record(p, e->meta, size, stack);
	if (zero)
		memset(p, 0, size);
	return p;
}

int nprof__heap_thread_free(void *p, uint32_t *stack, size_t *size)
{
	int cls;
	uint64_t *meta;
	int rc = nprof__region_unrecord(p, stack, size, &cls, &meta);
	if (rc > 0)
		return nprof__region_free(p, stack, size);
	if (rc < 0)
		return -1;
	struct heap_thread *t = state();
	if (t == NULL) {
		nprof__region_give(&p, 1);
		return 0;
	}
	int cap = cap_of(cls);
	if (t->n[cls] >= cap) {
		/* Full: the older half goes back, in one batch. */
		int half = cap / 2;
		give(t, cls, half);
		memmove(t->slot[cls], t->slot[cls] + half,
			sizeof t->slot[cls][0] * (size_t)(t->n[cls] - half));
		t->n[cls] = (uint16_t)(t->n[cls] - half);
	}
	t->slot[cls][t->n[cls]].p = p;
	t->slot[cls][t->n[cls]].meta = meta;
	t->n[cls]++;
	return 0;
}

/*
 * A walk that records slots steps libunwind frame by frame without its
 * trace cache: tens of microseconds, against one or two for the plain
 * walk. It pays off only when the stack then hits. A thread whose
 * allocation sites outnumber the cache would miss every time, so the
 * slot walks are paid for by hits: each hit earns one credit, a slot walk
 * costs WALK_COST, and without credit a miss takes the plain walk.
 */
int nprof__heap_thread_caching(void)
{
	struct heap_thread *t = tls_state;
	if (t == NULL || t->stack_hi == 0 || t->credit < WALK_COST)
		return 0;
	t->credit -= WALK_COST;
	return 1;
}

int nprof__heap_thread_shard(void)
{
	struct heap_thread *t = tls_state;
	return t != NULL && t->index < NPROF_HEAP_SHARDS ? t->index : -1;
}

/* ---------------------------------------------------------------- */
/* the stack cache                                                   */
/* ---------------------------------------------------------------- */

/* The set of (ra, a0): two ways, so that two hot call sites whose keys
 * collide (which depends on where ASLR put things) do not evict each
 * other on every call. */
static struct stack_ent *set_of(struct heap_thread *t, uintptr_t ra, uintptr_t a0, unsigned *set)
{
	uint64_t h = (ra ^ (a0 * 0x9e3779b97f4a7c15ULL)) * 0xff51afd7ed558ccdULL;
	*set = (unsigned)(h >> 60); /* SC_WAYS / 2 = 16 sets */
	return &t->sc[*set * 2];
}

uint32_t nprof__heap_thread_stack_get(uintptr_t ra, uintptr_t a0)
{
	struct heap_thread *t = tls_state;
	if (t == NULL || t->sc == NULL || a0 - t->stack_lo >= t->stack_hi - t->stack_lo)
		return 0;
	unsigned set;
	const struct stack_ent *e = set_of(t, ra, a0, &set);
	for (int w = 0; w < 2; w++, e++) {
		if (e->ra != ra || e->a0 != a0 || e->id == 0)
			continue;
		for (uint32_t i = 0; i < e->n; i++)
			if (*(const volatile uintptr_t *)(a0 + e->off[i]) != e->val[i])
				return 0;
		t->victim[set] = (uint8_t)!w; /* keep the way just used */
		if (t->credit < CREDIT_MAX)
			t->credit++;
		return e->id;
	}
	return 0;
}

void nprof__heap_thread_stack_put(uintptr_t ra, uintptr_t a0, uint32_t id, const uintptr_t *slots,
				  const uintptr_t *vals, int n)
{
	struct heap_thread *t = tls_state;
	if (t == NULL || id == 0 || n < 0 || n > SC_FRAMES ||
	    a0 - t->stack_lo >= t->stack_hi - t->stack_lo)
		return;
	/* Every slot checked on a hit must lie on this thread's stack, above
	 * the key: it is then readable whenever the key's slot is. */
	for (int i = 0; i < n; i++)
		if (slots[i] <= a0 || slots[i] >= t->stack_hi || slots[i] - a0 > UINT32_MAX)
			return;
	if (t->sc == NULL && (t->sc = nprof__arena_alloc(sizeof *t->sc * SC_WAYS)) == NULL)
		return;
	unsigned set;
	struct stack_ent *s0 = set_of(t, ra, a0, &set);
	/* The way holding this key, else an empty one, else the victim. */
	int w;
	if (s0[0].ra == ra && s0[0].a0 == a0)
		w = 0;
	else if (s0[1].ra == ra && s0[1].a0 == a0)
		w = 1;
	else if (s0[0].id == 0)
		w = 0;
	else if (s0[1].id == 0)
		w = 1;
	else
		w = t->victim[set];
	t->victim[set] = (uint8_t)!w;
	struct stack_ent *e = &s0[w];
	e->id = 0;
	e->ra = ra;
	e->a0 = a0;
	e->n = (uint32_t)n;
	for (int i = 0; i < n; i++) {
		e->off[i] = (uint32_t)(slots[i] - a0);
		e->val[i] = vals[i];
	}
	e->id = id;
}

void nprof__heap_thread_postfork_child(void)
{
	struct heap_thread *t = tls_state;
	if (t != NULL) {
		atomic_store(&t->owner, (int)syscall(SYS_gettid));
		t->pid = getpid();
	}
}
