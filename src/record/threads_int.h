/*
 * threads_int.h - private contract between the files of the threads
 * profile: threads.c (the registry), threads_collect.c (reading every
 * thread), threads_report.c and threads_signal.c (formats, handlers,
 * the dump signal),
 * sync_hooks.c (the pthread/semaphore overrides that record why a thread
 * waits), stackwalk.c (unwinding another thread's stack without
 * signals) and threads_look.c (reading every thread's /proc files).
 * Nothing here is used outside those files; what other modules need is
 * in threads.h.
 *
 * The registry entry (struct nprof_tent) is the only structure written by
 * program threads: each thread writes its own entry's wait state, without a
 * lock, under a sequence counter (seqlock) that the dumper reads. Entries
 * are never returned to the arena, only recycled through a free list, so a
 * dumper holding a pointer to an entry whose thread has just exited reads
 * stale but valid memory (and notices from the tid).
 */
#ifndef NPROF_THREADS_INT_H
#define NPROF_THREADS_INT_H

#include "base.h"
#include "stacks.h"
#include "threads.h"

#include <pthread.h>
#include <stdatomic.h>
#include <sys/types.h>
#include <time.h>

/* Why a thread waits, as far as nprof's overrides know. The names printed
 * are in threads.c (nprof__wait_names), in this order. */
enum nprof_wait_reason {
	NPROF_WAIT_NONE = 0,
	NPROF_WAIT_COND_WAIT,
	NPROF_WAIT_COND_TIMEDWAIT,
	NPROF_WAIT_COND_CLOCKWAIT,
	NPROF_WAIT_MUTEX_LOCK,
	NPROF_WAIT_MUTEX_TIMEDLOCK,
	NPROF_WAIT_MUTEX_CLOCKLOCK,
	NPROF_WAIT_RWLOCK_RDLOCK,
	NPROF_WAIT_RWLOCK_WRLOCK,
	NPROF_WAIT_RWLOCK_TIMEDRDLOCK,
	NPROF_WAIT_RWLOCK_TIMEDWRLOCK,
	NPROF_WAIT_SEM_WAIT,
	NPROF_WAIT_SEM_TIMEDWAIT,
	NPROF_WAIT_SEM_CLOCKWAIT,
	NPROF_WAIT_JOIN,
	NPROF_WAIT_TIMEDJOIN,
	NPROF_WAIT_CLOCKJOIN,
	NPROF_WAIT_BARRIER,
	NPROF_WAIT_COUNT
};

extern const char *const nprof__wait_names[NPROF_WAIT_COUNT];

/* One registered thread. */
struct nprof_tent {
	_Atomic int tid;            /* 0 while on the free list */
	uint32_t creator_stack;     /* interned stack that called pthread_create; 0 unknown */
	pid_t creator_tid;          /* 0 unknown */
	int64_t born_ns;            /* CLOCK_MONOTONIC at registration */
	/* Wait state, written only by the thread itself. seq is odd while
	 * the three fields below change. */
	atomic_uint seq;
	_Atomic int reason;         /* enum nprof_wait_reason */
	_Atomic int64_t since_ns;   /* CLOCK_MONOTONIC when the wait began */
	_Atomic uintptr_t obj;      /* the mutex, condvar, ... waited on */
	/* Where the override was called from, so that a dump unwinds the
	 * waiting thread from its caller without reading /proc's syscall
	 * file: the caller's stack pointer after the call returns (the
	 * override's CFA) and the return address. 0 when not waiting. */
	_Atomic uintptr_t wait_sp, wait_pc;
	struct nprof_tent *next, *prev;   /* live list or free list; reg lock */
};

/* The calling thread's entry, or NULL when it has none yet. */
extern NPROF_TLS struct nprof_tent *nprof__tself;

/*
 * The calling thread's entry, registering the thread on first use (a
 * thread that existed before nprof, or the main thread). NULL while nprof
 * is not running, inside nprof's own code (hook guard up), on nprof's own
 * threads, while the thread exits, or when the arena is full. Takes the
 * registry lock on first use only; not async-signal-safe.
 */
struct nprof_tent *nprof__threads_self_slow(void);

static inline struct nprof_tent *nprof__threads_self(void)
{
	struct nprof_tent *t = nprof__tself;
	if (NPROF_LIKELY(t != NULL))
		return t;
	if (!nprof__running || nprof__guard)
		return NULL;
	return nprof__threads_self_slow();
}

/*
 * One wait in an interposed primitive, from begin to end, on the waiting
 * thread's stack. Waits nest (a program's hook may wait inside another),
 * so the previous state is saved and restored.
 *
 * This pair is the single place where a wait is observed: the block and
 * mutex profiles (issue 5) hook in at nprof__wait_end, where the start
 * time, the reason and the object are known.
 */
struct nprof_wait {
	struct nprof_tent *t;       /* NULL: not recorded */
	int prev_reason;
	int64_t prev_since;
	uintptr_t prev_obj;
	uintptr_t prev_sp, prev_pc;
	int reason;
	int64_t start_ns;
	uintptr_t obj;
};

static inline void nprof__tent_set(struct nprof_tent *t, int reason, int64_t since, uintptr_t obj,
				   uintptr_t sp, uintptr_t pc)
{
	unsigned s = atomic_load_explicit(&t->seq, memory_order_relaxed);
	atomic_store_explicit(&t->seq, s + 1, memory_order_relaxed);
	atomic_thread_fence(memory_order_release);
	atomic_store_explicit(&t->reason, reason, memory_order_relaxed);
	atomic_store_explicit(&t->since_ns, since, memory_order_relaxed);
	atomic_store_explicit(&t->obj, obj, memory_order_relaxed);
	atomic_store_explicit(&t->wait_sp, sp, memory_order_relaxed);
	atomic_store_explicit(&t->wait_pc, pc, memory_order_relaxed);
	atomic_store_explicit(&t->seq, s + 2, memory_order_release);
}

/*
 * Always inlined into the override, so that the frame and return address
 * below are the override's: its caller resumes at the return address with
 * its stack pointer at the override's CFA, which is the frame address + 16
 * (nprof is built with frame pointers, and __builtin_frame_address makes
 * the override keep one in any case). Frames from there outwards stay
 * intact while the wait's sequence number does not change.
 */
__attribute__((always_inline)) static inline void nprof__wait_begin(struct nprof_wait *w,
								   int reason, const void *obj)
{
	w->t = nprof__threads_self();
	if (w->t == NULL)
		return;
	w->prev_reason = atomic_load_explicit(&w->t->reason, memory_order_relaxed);
	w->prev_since = atomic_load_explicit(&w->t->since_ns, memory_order_relaxed);
	w->prev_obj = atomic_load_explicit(&w->t->obj, memory_order_relaxed);
	w->prev_sp = atomic_load_explicit(&w->t->wait_sp, memory_order_relaxed);
	w->prev_pc = atomic_load_explicit(&w->t->wait_pc, memory_order_relaxed);
	w->reason = reason;
	w->obj = (uintptr_t)obj;
	w->start_ns = nprof__mono_ns();
	nprof__tent_set(w->t, reason, w->start_ns, w->obj,
			(uintptr_t)__builtin_frame_address(0) + 16,
			(uintptr_t)__builtin_return_address(0));
}

static inline void nprof__wait_end(struct nprof_wait *w)
{
	if (w->t == NULL)
		return;
	/* The block profile samples the finished wait in sync_hooks.c's
	 * wait_done(), which calls this; here the previous reason returns. */
	nprof__tent_set(w->t, w->prev_reason, w->prev_since, w->prev_obj, w->prev_sp, w->prev_pc);
}

/* ------------------------------------------------------------------ */
/* threads.c: the registry, for the other two files                    */
/* ------------------------------------------------------------------ */

/* A registry entry as a dump copies it. */
struct nprof_regcopy {
	pid_t tid;                  /* first: sorted and searched by tid */
	struct nprof_tent *t;
	uint32_t creator_stack;
	pid_t creator_tid;
};

/* One threadcreate row: threads created from stack `stack`. */
struct nprof_tc_ent {
	uint32_t stack;
	int64_t count;              /* 0: empty slot */
};

/*
 * A copy of every live registry entry (arena array of *n, unsorted; NULL
 * when the arena is full), taken under the registry lock. The entries
 * pointed to stay valid memory; their tid tells whether they still
 * belong to the same thread.
 */
struct nprof_regcopy *nprof__threads_reg_snapshot(size_t *n);

/* A copy of the threadcreate table (arena array of *n rows) and the total
 * of threads created; NULL when the arena is full. */
struct nprof_tc_ent *nprof__threadcreate_copy(size_t *n, int64_t *total);

/*
 * Removes nprof's own frames from a stack of n return addresses, in place;
 * returns the new count. With `waits_in_hook` (the thread waits in one of
 * nprof's overrides) the stack starts at the override's caller (docs/reference.md §3: nprof's own frames never appear):
 * the C library frames above the override (futex internals) go too, since
 * the wait reason names the primitive.
 */
int nprof__threads_strip_self(uintptr_t *pcs, int n, int waits_in_hook);

/* threads_collect.c: after fork in the child, forget the collection lock,
 * the seen-since table and the unwinder's state. */
void nprof__threads_collect_forget(void);

/* At start, after nprof__threads_init: the first look at every thread. */
void nprof__threads_collect_prime(void);

/* ------------------------------------------------------------------ */
/* stackwalk.c                                                         */
/* ------------------------------------------------------------------ */

/* Outcome flags of nprof__walk_remote(). */
#define NPROF_WALK_TRUNCATED 1   /* stopped before the outermost frame */

/*
 * Prepares the unwinder for a dump (re-reads the process's modules when
 * libraries were loaded or unloaded since the last dump). Returns 0, or
 * -ENOENT when libdw cannot describe this process (walks then return only
 * the leaf). Called by the one dumping thread (threads.c's dump lock held).
 */
int nprof__walk_begin(void);

/*
 * Unwinds a stopped thread of this process from its user stack pointer
 * `sp` and program counter `pc` (as /proc/self/task/TID/syscall reports
 * them for a thread blocked in a system call), reading its stack only
 * through process_vm_readv, so a thread that wakes up or exits meanwhile
 * can make the result wrong but never crash the process. Stores pc, then
 * return addresses, innermost first; returns how many (>= 1). Sets
 * NPROF_WALK_TRUNCATED in *flags when the walk stopped early (no unwind
 * information, unreadable memory). Dump lock held; uses libdw (malloc),
 * so never from a signal handler.
 */
int nprof__walk_remote(uintptr_t sp, uintptr_t pc, uintptr_t *pcs, int max, int *flags);

/* Forgets libdw state (after fork in the child: nothing is freed). */
void nprof__walk_forget(void);

/*
 * threads_sample.c: the stack of the running thread `tid` (its task
 * directory `tdir`, an O_PATH descriptor), taken by one signal whose
 * handler unwinds the interrupted context. Sends it only if the thread is
 * runnable in user mode (not in a system call) and does not block the
 * signal; waits at most 20 ms. Returns the frames stored (leaf pc + 1,
 * then return addresses), or 0 when the thread was not or could not be
 * sampled. Dump lock held.
 */
int nprof__threads_sample_running(int tdir, pid_t tid, uintptr_t *pcs, int max);

/* ------------------------------------------------------------------ */
/* threads_look.c: reading every thread's /proc files, for threads_collect.c */
/* ------------------------------------------------------------------ */

/* A thread's stat file: name, state, start time (for a thread in an
 * interposed wait, only the name, from its comm file; state '?'). */
struct kstat {
	char name[16];
	char state;
	unsigned long long starttime;
};

/* A thread's syscall file. */
struct ksys {
	int running;          /* "running": no consistent sample */
	long nr;              /* -1: blocked, but not in a system call */
	unsigned long long args[6];
	uintptr_t sp, pc;
};

/* What one look at a thread found, before any unwinding. */
struct look {
	int what;                  /* LOOK_INTERNAL, LOOK_GONE, LOOK_OK */
	struct kstat kst;
	struct ksys ks;
	int have_sys;
	int from_reg;              /* ks.sp/pc are the override's caller, from the registry */
	const struct nprof_regcopy *reg;
	int reason;                /* from the registry, read before the syscall file */
	int64_t since;
	unsigned seq;
};
enum { LOOK_INTERNAL = 1, LOOK_GONE, LOOK_OK };

/* A dump's first look at its threads, shared in chunks between the
 * dumping thread and up to LOOK_HELPERS_MAX helpers (threads_look.c). */
#define LOOK_HELPERS_MAX 3
struct look_job {
	const pid_t *tids;
	size_t n;
	struct look *out;
	int taskfd;
	pid_t me;
	const struct nprof_regcopy *regs;
	size_t nregs;
	int no_names;                   /* NPROF_COLLECT_NO_NAMES */
	size_t nchunks;
	_Atomic unsigned char *chunk;   /* per chunk: 0 free, 1 claimed, 2 done */
	atomic_long back;               /* helpers claim chunk back - 1, downwards */
};

/* Reads /proc/self/task/TID/NAME (taskfd: /proc/self/task) into buf,
 * NUL-terminated; the length or -1. */
ssize_t nprof__threads_read_file(int taskfd, pid_t tid, const char *name, char *buf, size_t cap);
/* The same for `path` under the directory descriptor dirfd. */
ssize_t nprof__threads_read_at(int dirfd, const char *path, char *buf, size_t cap);
/* Parses a syscall file; 0 or -1. */
int nprof__threads_parse_syscall(const char *s, struct ksys *k);
/* Looks at one thread (its registry wait state, then stat and syscall). */
void nprof__threads_look_at(const struct look_job *j, pid_t tid, struct look *l);
/* Starts up to LOOK_HELPERS_MAX helpers for a job of many threads (only
 * when `asked`: a dump a person asked for); returns how many started. */
int nprof__threads_look_start(struct look_job *j, pthread_t *helpers, int asked);
/* Makes sure thread i of the job has been looked at. */
void nprof__threads_look_ready(struct look_job *j, size_t i);
/* Joins the helpers (every chunk is done by then). */
void nprof__threads_look_finish(struct look_job *j, pthread_t *helpers, int nhelpers);

#endif /* NPROF_THREADS_INT_H */
