/*
 * threads.c - the thread registry behind the thread profiles, and their
 * life cycle.
 *
 * Owns
 *   - the registry: one struct nprof_tent per thread nprof knows (started
 *     through the pthread_create wrapper, or registered on its first
 *     interposed wait: the main thread, threads from before nprof). It
 *     holds who created the thread and, written by the thread itself, what
 *     it waits for (threads_int.h). Entries live in arena chunks and are
 *     recycled through a free list, never freed, so a dump holding a
 *     pointer to an entry whose thread has exited reads valid memory.
 *   - the threadcreate table: creating stack id -> threads created there.
 *   - the range of libnprof's own code, whose frames no stack shows.
 * The rest of the threads profile: threads_collect.c (reading every
 * thread without disturbing it), threads_report.c (formats, handlers),
 * threads_signal.c (NPROF_DUMP_SIGNAL), stackwalk.c, sync_hooks.c;
 * docs/internals/threads.md.
 *
 * Locking: reg_lock guards the lists and the threadcreate table; taken by
 * a thread starting, exiting or registering itself, and briefly by a dump
 * to copy them. It is taken before the arena's lock (entries and the
 * table grow from the arena), and only tried, never waited for, from
 * inside a hooked lock operation (register_self). Fork holds it.
 *
 * Signals: nothing here runs in a signal handler.
 */
#include "arena.h"
#include "base.h"
#include "stacks.h"
#include "threads.h"
#include "threads_int.h"

#include <errno.h>
#include <pthread.h>

const char *const nprof__wait_names[NPROF_WAIT_COUNT] = {
	[NPROF_WAIT_NONE] = "",
	[NPROF_WAIT_COND_WAIT] = "pthread_cond_wait",
	[NPROF_WAIT_COND_TIMEDWAIT] = "pthread_cond_timedwait",
	[NPROF_WAIT_COND_CLOCKWAIT] = "pthread_cond_clockwait",
	[NPROF_WAIT_MUTEX_LOCK] = "pthread_mutex_lock",
	[NPROF_WAIT_MUTEX_TIMEDLOCK] = "pthread_mutex_timedlock",
	[NPROF_WAIT_MUTEX_CLOCKLOCK] = "pthread_mutex_clocklock",
	[NPROF_WAIT_RWLOCK_RDLOCK] = "pthread_rwlock_rdlock",
	[NPROF_WAIT_RWLOCK_WRLOCK] = "pthread_rwlock_wrlock",
	[NPROF_WAIT_RWLOCK_TIMEDRDLOCK] = "pthread_rwlock_timedrdlock",
	[NPROF_WAIT_RWLOCK_TIMEDWRLOCK] = "pthread_rwlock_timedwrlock",
	[NPROF_WAIT_SEM_WAIT] = "sem_wait",
	[NPROF_WAIT_SEM_TIMEDWAIT] = "sem_timedwait",
	[NPROF_WAIT_SEM_CLOCKWAIT] = "sem_clockwait",
	[NPROF_WAIT_JOIN] = "pthread_join",
	[NPROF_WAIT_TIMEDJOIN] = "pthread_timedjoin_np",
	[NPROF_WAIT_CLOCKJOIN] = "pthread_clockjoin_np",
	[NPROF_WAIT_BARRIER] = "pthread_barrier_wait",
};

/* ---------------------------------------------------------------- */
/* The registry                                                      */
/* ---------------------------------------------------------------- */

#define CHUNK 256

NPROF_TLS struct nprof_tent *nprof__tself;
static NPROF_TLS int texiting;      /* past the exit destructor: never register again */

static pthread_mutex_t reg_lock = PTHREAD_MUTEX_INITIALIZER;
static struct nprof_tent *live, *free_list;
static size_t nlive;
static pthread_key_t exit_key;
static pthread_once_t key_once = PTHREAD_ONCE_INIT;
static int key_ok;

/* threadcreate: open addressing, stack id -> count; reg_lock. */
static struct nprof_tc_ent *tc_tab;
static size_t tc_cap, tc_used;
static int64_t tc_total;

static void unregister_self(void *unused);

static void make_key(void)
{
	key_ok = pthread_key_create(&exit_key, unregister_self) == 0;
}

/* Takes an entry from the free list or a new chunk; reg_lock held. */
static struct nprof_tent *tent_alloc_locked(void)
{
	if (free_list == NULL) {
		struct nprof_tent *c = nprof__arena_alloc(sizeof *c * CHUNK);
		if (c == NULL)
			return NULL;
		for (int i = 0; i < CHUNK; i++) {
			c[i].next = free_list;
			free_list = &c[i];
		}
	}
	struct nprof_tent *t = free_list;
	free_list = t->next;
	return t;
}

/*
 * Registers the calling thread; the guard must be raised by the caller.
 * `lazily`: called from inside a hooked lock operation, where this thread
 * may already hold reg_lock (fork's prepare handler locks it, then the
 * arena's lock through the hook) or wait for a lock whose holder waits for
 * reg_lock: then only a trylock is safe, and on failure the thread stays
 * unregistered until its next wait.
 */
static struct nprof_tent *register_self(uint32_t creator_stack, pid_t creator_tid, int lazily)
{
	pthread_once(&key_once, make_key);
	if (lazily) {
		if (pthread_mutex_trylock(&reg_lock) != 0)
			return NULL;
	} else {
		pthread_mutex_lock(&reg_lock);
	}
	struct nprof_tent *t = tent_alloc_locked();
	if (t != NULL) {
		t->creator_stack = creator_stack;
		t->creator_tid = creator_tid;
		t->born_ns = nprof__mono_ns();
		atomic_store(&t->reason, NPROF_WAIT_NONE);
		atomic_store(&t->since_ns, 0);
		atomic_store(&t->obj, 0);
		atomic_store(&t->wait_sp, 0);
		atomic_store(&t->wait_pc, 0);
		atomic_store(&t->tid, (int)nprof__gettid());
		t->prev = NULL;
		t->next = live;
		if (live != NULL)
			live->prev = t;
		live = t;
		nlive++;
	}
	pthread_mutex_unlock(&reg_lock);
	if (t != NULL) {
		nprof__tself = t;
		/* The key's destructor unregisters at thread exit (return,
		 * pthread_exit or cancellation), for every thread alike. */
		if (key_ok)
			pthread_setspecific(exit_key, t);
	}
	return t;
}

static void unregister_self(void *p)
{
	struct nprof_tent *t = p;
	int guard = nprof__guard;
	nprof__guard = 1;
	texiting = 1;
	nprof__tself = NULL;
	pthread_mutex_lock(&reg_lock);
	if (atomic_load(&t->tid) != 0) {
		atomic_store(&t->tid, 0);
		if (t->prev != NULL)
			t->prev->next = t->next;
		else
			live = t->next;
		if (t->next != NULL)
			t->next->prev = t->prev;
		t->next = free_list;
		t->prev = NULL;
		free_list = t;
		nlive--;
	}
	pthread_mutex_unlock(&reg_lock);
	nprof__guard = guard;
}

struct nprof_tent *nprof__threads_self_slow(void)
{
	if (texiting || nprof__thread_is_internal(nprof__gettid()))
		return NULL;
	int saved = errno;
	nprof__guard = 1;
	struct nprof_tent *t = register_self(0, 0, 1);
	nprof__guard = 0;
	errno = saved;
	return t;
}


int nprof__threads_strip_self(uintptr_t *pcs, int n, int waits_in_hook)
{
	int start = 0;
	if (waits_in_hook) {
		for (int i = 0; i < n && i < 24; i++)
			if (nprof__unwind_is_self(pcs[i])) {
				start = i;
				while (start < n && nprof__unwind_is_self(pcs[start]))
					start++;
				break;
			}
	}
	int out = 0;
	for (int i = start; i < n; i++)
		if (!nprof__unwind_is_self(pcs[i]))
			pcs[out++] = pcs[i];
	return out;
}

/* The threadcreate count of `stack`; reg_lock held. */
static void tc_add_locked(uint32_t stack)
{
	if (tc_used * 2 >= tc_cap) {
		size_t ncap = tc_cap ? tc_cap * 2 : 256;
		struct nprof_tc_ent *n = nprof__arena_alloc(sizeof *n * ncap);
		if (n == NULL)
			return;
		for (size_t i = 0; i < tc_cap; i++) {
			if (tc_tab[i].count == 0)
				continue;
			size_t j = (tc_tab[i].stack * 2654435761u) & (ncap - 1);
			while (n[j].count != 0)
				j = (j + 1) & (ncap - 1);
			n[j] = tc_tab[i];
		}
		nprof__arena_free(tc_tab);
		tc_tab = n;
		tc_cap = ncap;
	}
	size_t j = (stack * 2654435761u) & (tc_cap - 1);
	while (tc_tab[j].count != 0 && tc_tab[j].stack != stack)
		j = (j + 1) & (tc_cap - 1);
	if (tc_tab[j].count == 0) {
		tc_tab[j].stack = stack;
		tc_used++;
	}
	tc_tab[j].count++;
	tc_total++;
}

__attribute__((noinline)) uint32_t nprof__threads_creating(void)
{
	if (NPROF_UNLIKELY(nprof__follow_pending))
		nprof__follow_poll(); /* a forked worker past its grace period */
	if (!nprof__running || nprof__guard)
		return 0;
	int saved = errno;
	nprof__guard = 1;
	uintptr_t pcs[NPROF_MAX_FRAMES];
	int n = nprof__unwind_here(pcs, NPROF_MAX_FRAMES, 0);
	n = nprof__threads_strip_self(pcs, n, 0);
	uint32_t id = n > 0 ? nprof__stack_intern(pcs, n) : 0;
	nprof__guard = 0;
	errno = saved;
	return id;
}

void nprof__threads_created(uint32_t creator_stack)
{
	if (!nprof__running || nprof__guard)
		return;
	int saved = errno;
	nprof__guard = 1;
	pthread_mutex_lock(&reg_lock);
	tc_add_locked(creator_stack);
	pthread_mutex_unlock(&reg_lock);
	nprof__guard = 0;
	errno = saved;
}

void nprof__threads_started(uint32_t creator_stack, pid_t creator_tid)
{
	if (!nprof__running || nprof__guard || nprof__tself != NULL)
		return;
	int saved = errno;
	nprof__guard = 1;
	register_self(creator_stack, creator_tid, 0);
	nprof__guard = 0;
	errno = saved;
}

struct nprof_regcopy *nprof__threads_reg_snapshot(size_t *n)
{
	pthread_mutex_lock(&reg_lock);
	struct nprof_regcopy *r = nprof__arena_alloc(sizeof *r * (nlive + 1));
	size_t k = 0;
	for (struct nprof_tent *t = live; r != NULL && t != NULL; t = t->next)
		r[k++] = (struct nprof_regcopy){atomic_load(&t->tid), t, t->creator_stack,
						 t->creator_tid};
	pthread_mutex_unlock(&reg_lock);
	*n = k;
	return r;
}

struct nprof_tc_ent *nprof__threadcreate_copy(size_t *n, int64_t *total)
{
	pthread_mutex_lock(&reg_lock);
	struct nprof_tc_ent *copy = nprof__arena_alloc(sizeof *copy * (tc_used + 1));
	size_t k = 0;
	for (size_t i = 0; copy != NULL && i < tc_cap; i++)
		if (tc_tab[i].count != 0)
			copy[k++] = tc_tab[i];
	*total = tc_total;
	pthread_mutex_unlock(&reg_lock);
	*n = k;
	return copy;
}

long nprof__threadcreate_count(void)
{
	pthread_mutex_lock(&reg_lock);
	long n = (long)tc_total;
	pthread_mutex_unlock(&reg_lock);
	return n;
}

/* ---------------------------------------------------------------- */
/* Life cycle                                                        */
/* ---------------------------------------------------------------- */

void nprof__threads_init(void)
{
	pthread_once(&key_once, make_key);
}

void nprof__threads_prefork(void)
{
	pthread_mutex_lock(&reg_lock);
}

void nprof__threads_postfork(int child)
{
	if (!child) {
		pthread_mutex_unlock(&reg_lock);
		return;
	}
	/* Only the forking thread exists in the child: forget every entry
	 * (their threads are gone) and every lock a vanished thread held. */
	pthread_mutex_t fresh = PTHREAD_MUTEX_INITIALIZER;
	reg_lock = fresh;
	live = NULL;
	free_list = NULL;
	nlive = 0;
	nprof__tself = NULL;
	if (key_ok)
		pthread_setspecific(exit_key, NULL);
}
