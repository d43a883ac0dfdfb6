/*
 * base.h - what every nprof file uses: the conventions, the configuration
 * (config.c), logging, thread identity, nprof's own threads and the hook
 * guard (self.c), the one clock, and starting nprof in a forked worker
 * (follow.c). The arena (arena.h) and byte buffers (buf.h) have headers of
 * their own. Nothing here is exported from libnprof.so: every non-static
 * symbol is named nprof__module_verb() and the library is built with
 * -fvisibility=hidden, so only the NPROF_API functions (the public API and
 * the libc overrides) are visible to the host program.
 *
 * Conventions
 *   - Functions return 0 or a negative errno code.
 *   - A name ending in _sigsafe may be called from a signal handler and
 *     from inside a malloc hook: no locks that a handler could hold, no
 *     malloc, no stdio.
 *   - nprof's own data lives in the arena (arena.c), never in the host's
 *     malloc. Third-party code nprof calls (libdw, libmicrohttpd, zlib)
 *     does use malloc; it runs with the thread's hook guard raised, so the
 *     heap profiler passes those calls straight through unrecorded.
 *   - Each folder of src/ is a layer and has its own headers; a file
 *     includes those of its folder and of the layers below
 *     (docs/internals/README.md), never one above.
 */
#ifndef NPROF_BASE_H
#define NPROF_BASE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#define NPROF_API __attribute__((visibility("default")))
/* For a variable the hooks' fast paths read: it never leaves libnprof,
 * but an extern declaration is otherwise assumed preemptible under -fPIC
 * and read through the GOT, one load more. */
#define NPROF_HIDDEN __attribute__((visibility("hidden")))
#define NPROF_TLS __thread __attribute__((tls_model("initial-exec")))
#define NPROF_LIKELY(x) __builtin_expect(!!(x), 1)
#define NPROF_UNLIKELY(x) __builtin_expect(!!(x), 0)
#define NPROF_PRINTF(a, b) __attribute__((format(printf, a, b)))

/* ------------------------------------------------------------------ */
/* config.c, self.c: configuration, logging, thread identity          */
/* ------------------------------------------------------------------ */

/* Longest bearer token nprof keeps (bytes); a longer one is refused and
 * the TCP listener stays off rather than serving without it. */
#define NPROF_MAX_TOKEN 4096

struct nprof_config {
	char http[128];         /* "" = no TCP listener; else "host:port" */
	char socket_path[108];  /* "" = off */
	char token[NPROF_MAX_TOKEN + 1]; /* "" = none */
	int token_bad;          /* NPROF_TOKEN set but unusable: TCP stays off */
	char out_dir[256];      /* "" = none */
	long heap_rate;         /* bytes; 0 = off; 1 = every allocation */
	long block_rate;        /* ns; 0 = off */
	long mutex_fraction;    /* 0 = off */
	int cpu_hz;             /* 1..1000 */
	double snapshot_s;      /* seconds between background snapshots */
	int dump_signal;        /* 0 = none */
	int expose_cmdline;     /* NPROF_EXPOSE_CMDLINE=1 */
	int no_sample_running;  /* NPROF_SAMPLE_RUNNING=0: never signal a thread */
	int no_parallel_dump;   /* NPROF_DUMP_PARALLEL=0: dumps read /proc on one thread */
	int follow_fork;        /* NPROF_FOLLOW_FORK: 1 (default) = forked workers start their own */
	int debuginfod;         /* NPROF_DEBUGINFOD: 0 = never ask a debuginfod server */
	long debuginfod_ms;     /* NPROF_DEBUGINFOD_MS: a request's wait for fetches */
	char debug_dirs[512];   /* NPROF_DEBUG_DIRS: ':'-separated; "" = /usr/lib/debug */
	int attached;           /* "attach=1": loaded late by `nprof attach` */
};

/* The active configuration; written only by nprof__core_configure(). */
extern struct nprof_config nprof__cfg;

/* Non-zero between a successful start and stop in the process that
 * started nprof; zero in a forked child. */
extern volatile int nprof__running;

/* The pid that owns the sockets and output files (not a forked child). */
extern pid_t nprof__owner_pid;

/*
 * Parses the environment and then `config` ("key=value,...") into
 * nprof__cfg, printing one line per bad value and keeping the default for
 * it. Never fails.
 */
void nprof__core_configure(const char *config);

/*
 * Parses a whole decimal number of digits only (no sign, no space, no
 * exponent) not above `max`; 0, or -1 for anything else. Query parameters
 * and ports are read with it, so "1e12", "-1" and " 5" are all refused.
 */
int nprof__config_parse_uint(const char *s, long max, long *out);

/* Writes "nprof: <message>\n" to stderr with one write(2); no malloc. */
void nprof__log(const char *fmt, ...) NPROF_PRINTF(1, 2);

/* The kernel thread id of the calling thread (cached in TLS). */
pid_t nprof__gettid(void);
/* After fork, in the child: forget the parent's cached thread id. */
void nprof__self_postfork_child(void);

/* self.c: nprof's own threads, signals */
/* Marks the calling thread as nprof's own (guard raised, no CPU timer). */
void nprof__thread_mark_internal(void);
/* Clears the calling thread's mark as it exits (a pthread cleanup handler). */
void nprof__thread_unmark_internal(void *unused);
/* Blocks all signals in the calling thread; old mask in *old when given. */
void nprof__block_signals(void *old_sigset);
/* Non-zero when `tid` is one of nprof's own threads. Signal-safe. */
int nprof__thread_is_internal(pid_t tid);
/* The tids of nprof's own threads that are still alive (tgkill signal 0),
 * in slot order, into out[max]; how many. */
int nprof__thread_internal_live(pid_t *out, int max);
/* The real sigaction, bypassing nprof's override. */
int nprof__real_sigaction(int sig, const void *act, void *old);

/* CLOCK_MONOTONIC in nanoseconds: every duration nprof measures. */
static inline int64_t nprof__mono_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/*
 * The hook guard: non-zero while the calling thread runs nprof code, and
 * permanently on nprof's own threads. Hooks test it first and pass straight
 * through when it is set, so nprof never records or re-enters itself.
 */
extern NPROF_TLS int nprof__guard;

/* ------------------------------------------------------------------ */
/* follow.c: forked workers that do not exec                          */
/* ------------------------------------------------------------------ */

/* base/follow.c: a forked child that does not exec starts its own nprof
 * after a grace period; the parent reaches it with ?pid=N
 * (serve/follow_proxy.c). */
extern volatile int nprof__follow_pending;   /* set in a child until started */
/* What nprof__follow_poll calls to start nprof in the child: set by
 * api/core.c (nprof__core_follow_start) when nprof starts. */
extern void (*nprof__follow_start_fn)(void);
void nprof__follow_forked(void);             /* atfork child handler (AS-safe) */
void nprof__follow_parent_forked(void);      /* atfork parent handler */
/* From hooks that run often and never in signal handlers, while
 * nprof__follow_pending: starts nprof once the grace period is over. */
void nprof__follow_poll(void);
/* The socket path of child `self` from its parent's; -ENAMETOOLONG. */
int nprof__follow_socket_path(char *out, size_t cap, const char *parent_path, pid_t parent,
			      pid_t self);
/* Removes socket files of processes gone (children that left by _exit);
 * from the snapshot thread (rate-limited inside unless `now_too`) and at
 * stop. */
void nprof__follow_sweep(int now_too);

#endif /* NPROF_BASE_H */
