/*
 * threads.h - the thread registry (threads.c), reading every thread of
 * the process (threads_collect.c), the signal that samples running
 * threads (threads_sample.c) and system call names (syscall_names.c), as
 * the layers above use them. What only the threads files share is in
 * threads_int.h.
 */
#ifndef NPROF_THREADS_H
#define NPROF_THREADS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

enum {
	NPROF_WAITK_NONE = 0,     /* no duration (running, stopped, unknown) */
	NPROF_WAITK_EXACT,        /* nprof saw the wait begin (an interposed primitive) */
	NPROF_WAITK_SEEN_SINCE,   /* a lower bound: first dump that saw it blocked there */
};

/* nprof_thread_info.flags */
#define NPROF_TI_TRUNCATED 0x01        /* the unwinder stopped early */
#define NPROF_TI_TORN 0x02             /* the thread moved while its stack was read */
#define NPROF_TI_NOSTACK_RUNNING 0x04  /* running at every look: no stack */
#define NPROF_TI_NOSTACK_TIME 0x08     /* dump deadline reached before this one */
#define NPROF_TI_NOSTACK_OTHER 0x10    /* blocked outside a system call, stopped, ... */
#define NPROF_TI_SELF 0x20             /* the collecting thread itself */
#define NPROF_TI_SAMPLED 0x80          /* running: stack taken by a signal (threads_sample.c) */
#define NPROF_TI_GONE 0x40             /* exited during the dump (internal) */

/* One thread as a dump saw it. */
struct nprof_thread_info {
	pid_t tid;
	char name[16];             /* /proc comm */
	char state;                /* kernel state letter: R S D T Z ...; '?' not read
	                            * (in an interposed wait: the registry says why) */
	int is_main;
	int known_creator;
	int wait_kind;             /* NPROF_WAITK_* */
	const char *wait;          /* reason: "pthread_cond_wait", "poll", "running" */
	char wait_buf[48];         /* storage for a composed reason */
	int64_t wait_ns;           /* per wait_kind */
	uint32_t stack;            /* interned stack (innermost first); 0 none */
	uint32_t creator_stack;    /* stack that called pthread_create; 0 unknown */
	pid_t creator_tid;
	int flags;                 /* NPROF_TI_* */
};

struct nprof_thread_set {
	struct nprof_thread_info *t;   /* arena; n entries, in tid order */
	size_t n;
	size_t exited;             /* listed by the kernel, gone before being read */
	size_t no_stack;           /* listed without a stack */
	size_t torn;
	size_t internal;           /* nprof's own threads, not listed */
	int unwinder_missing;
	int readers;               /* threads that read /proc (1, or more in parallel) */
	int64_t time_ns;           /* CLOCK_MONOTONIC when the dump started */
	int64_t elapsed_ns;
};

/*
 * Lists every thread of the process but nprof's own, with its wait
 * reason and (with NPROF_COLLECT_STACKS) its stack: blocked threads are
 * unwound from outside (stackwalk.c), without any signal; running ones are
 * looked at again a few times, then (with NPROF_COLLECT_SAMPLE, asked for
 * by the dumps a person requests, never by the periodic snapshots and the
 * trace) sampled by one signal each (threads_sample.c), else listed with
 * the pseudo frame [running]. Bounded in time; threads that exit meanwhile
 * are counted, not listed. One collection at a time (later callers wait).
 * Returns 0 or a negative errno; free the set with
 * nprof__threads_set_free(). Not for signal handlers.
 */
#define NPROF_COLLECT_STACKS 1
#define NPROF_COLLECT_SAMPLE 2
/* The caller does not show thread names (the leak detector's snapshots):
 * a thread waiting in an interposed primitive is then not read from /proc
 * at all (the registry proves it alive and says why and since when it
 * waits); its name is left empty. */
#define NPROF_COLLECT_NO_NAMES 4
int nprof__threads_collect(struct nprof_thread_set *s, int what);
void nprof__threads_set_free(struct nprof_thread_set *s);

/* The pthread_create wrapper's part (preload.c). In the creating thread:
 * the interned stack that calls pthread_create (0 when not recording),
 * then, once the thread exists, nprof__threads_created() counts it for
 * threadcreate. In the new thread, first thing: nprof__threads_started()
 * registers it. All preserve errno. */
uint32_t nprof__threads_creating(void);
void nprof__threads_created(uint32_t creator_stack);
void nprof__threads_started(uint32_t creator_stack, pid_t creator_tid);

/* Handlers of /debug/pprof/goroutine and /debug/pprof/threadcreate, and
 * their index counts. */

/* Index counts of /debug/pprof/goroutine and /debug/pprof/threadcreate. */
long nprof__threads_count(void);
long nprof__threadcreate_count(void);

/* Life cycle, called by core.c: init in nprof_start after configuration,
 * prefork/postfork around fork (child: also forget what the parent owned). */
void nprof__threads_init(void);
void nprof__threads_prefork(void);
void nprof__threads_postfork(int child);

/* record/threads_sample.c: the signal that samples running threads for
 * the thread dumps. Called by the sigaction/signal overrides: the program
 * set a disposition for `sig` (nprof stops using it if it is that
 * signal); and, for a query, tells the program SIG_DFL rather than
 * nprof's handler in *old. */
struct sigaction;
void nprof__threads_sample_sig_taken(int sig);
void nprof__threads_sample_hide(int sig, struct sigaction *old);

/* The kernel's name of x86-64 system call nr (syscall_names.c), NULL
 * when unknown or on another architecture. */
const char *nprof__syscall_name(long nr);

#endif /* NPROF_THREADS_H */
