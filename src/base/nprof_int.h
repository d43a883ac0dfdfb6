/*
 * nprof_int.h - internal types and prototypes shared between nprof's
 * modules. Nothing here is exported from libnprof.so: every non-static
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
 */
#ifndef NPROF_INT_H
#define NPROF_INT_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#define NPROF_API __attribute__((visibility("default")))
#define NPROF_TLS __thread __attribute__((tls_model("initial-exec")))
#define NPROF_LIKELY(x) __builtin_expect(!!(x), 1)
#define NPROF_UNLIKELY(x) __builtin_expect(!!(x), 0)
#define NPROF_PRINTF(a, b) __attribute__((format(printf, a, b)))

/* Deepest stack nprof records; deeper stacks are truncated at the root. */
#define NPROF_MAX_FRAMES 64

/* ------------------------------------------------------------------ */
/* config.c, self.c: configuration, logging, thread identity (base)   */
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

/* got_patch.c: in a process nprof was attached to, bind the references
 * already resolved to libc's versions of the functions nprof overrides to
 * nprof's (number of slots changed); and put them back, except the malloc
 * family's (number restored). Called under nprof_start/stop's lock. */
size_t nprof__got_redirect(void);
size_t nprof__got_restore(void);

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
/* arena.c: nprof's own memory                                         */
/* ------------------------------------------------------------------ */

/*
 * Allocates `size` bytes of zeroed memory from nprof's mmap arena, never
 * from malloc. Returns NULL (and counts a drop) when the arena's bound is
 * reached. Thread-safe; not async-signal-safe.
 */
void *nprof__arena_alloc(size_t size);

/* Returns memory from nprof__arena_alloc(); NULL is ignored. */
void nprof__arena_free(void *p);

/* Grows or shrinks an arena block, as realloc. */
void *nprof__arena_realloc(void *p, size_t size);

/* Bytes currently held by the arena for samples, and its bound. */
size_t nprof__arena_used(void);
/* Bytes held for serving (the separate budget of nprof's own threads). */
size_t nprof__arena_serve_used(void);
/*
 * Non-zero on threads that serve (nprof's own threads, and a caller of
 * nprof_write_profile while it runs): their allocations are charged to
 * the serving budget, so a full sample budget never fails a response.
 */
extern NPROF_TLS int nprof__arena_serving;

/* malloc_hooks.c: own 1 serves every allocation of the calling thread
 * from nprof's sampled range rather than from a glibc arena of its own;
 * own 0 returns the thread to sampling. */
void nprof__heap_thread_own(int own);
size_t nprof__arena_limit(void);
/* Freed big mappings kept for reuse (not counted as used). */
size_t nprof__arena_cached(void);
/* Gives the kept mappings back when none was used for idle_ns. */
void nprof__arena_trim(int64_t idle_ns);
/* Sets the bound (NPROF_ARENA_MB; tests use it to inject exhaustion). */
void nprof__arena_set_limit(size_t bytes);

/* fork handlers: take every arena lock before fork, release after. */
void nprof__arena_prefork(void);
void nprof__arena_postfork(void);

/* ------------------------------------------------------------------ */
/* buf.c: growable byte buffers for responses                          */
/* ------------------------------------------------------------------ */

struct nprof_buf {
	char *data;     /* arena memory; NULL until the first append */
	size_t len;
	size_t cap;
	int failed;     /* an append ran out of memory; contents incomplete */
};

int nprof__buf_append(struct nprof_buf *b, const void *p, size_t n);
int nprof__buf_printf(struct nprof_buf *b, const char *fmt, ...) NPROF_PRINTF(2, 3);
int nprof__buf_putc(struct nprof_buf *b, char c);
/* Appends `s` with & < > " ' replaced by HTML entities. */
int nprof__buf_html(struct nprof_buf *b, const char *s);
/* Appends `s` as a quoted JSON string: " and \ escaped, control bytes and
 * < > & as \u00XX (so a name from the program can never close a <script>
 * of a page that embeds the JSON). */
void nprof__buf_json_str(struct nprof_buf *b, const char *s);
void nprof__buf_free(struct nprof_buf *b);
/* Hands the data to the caller (who frees it with nprof__arena_free). */
char *nprof__buf_take(struct nprof_buf *b, size_t *len);

/* ------------------------------------------------------------------ */
/* unwind.c: stack capture (libunwind, loaded privately)               */
/* ------------------------------------------------------------------ */

/*
 * Loads libunwind with dlopen(RTLD_LOCAL) so that its exported
 * backtrace() and _Unwind_* never replace the host's. Returns -ENOENT when
 * it cannot be loaded; capture then returns 0 frames.
 */
int nprof__unwind_init(void);

/*
 * Captures the calling thread's stack as return addresses, innermost
 * first, skipping the `skip` innermost frames (the caller of this function
 * counts as frame 0). Returns the number stored (<= max).
 */
int nprof__unwind_here(uintptr_t *pcs, int max, int skip);

/*
 * From a signal handler: captures the interrupted thread's stack. The
 * first entry is the interrupted program counter plus one, so that every
 * entry can be treated as a return address (symbolized at pc - 1).
 * Handler and trampoline frames are removed.
 */
int nprof__unwind_signal_sigsafe(void *ucontext, uintptr_t *pcs, int max);

/*
 * Non-zero when `pc` lies in libnprof.so's own code (set up by
 * nprof__unwind_init; never true when nprof is linked statically, where
 * its code is the program's). Stacks drop such frames: nprof's hooks and
 * trampolines are never shown. Async-signal-safe.
 */
int nprof__unwind_is_self(uintptr_t pc);

/* ------------------------------------------------------------------ */
/* stacks.c: interned call stacks                                      */
/* ------------------------------------------------------------------ */

/*
 * Returns the id (>= 1) of the stack `pcs[0..n)` (return addresses,
 * innermost first), adding it on first sight; 0 when the table or arena
 * is full (the caller drops its record and counts it). Lock-free for a
 * stack seen before; takes a mutex otherwise. Not for signal handlers.
 */
uint32_t nprof__stack_intern(const uintptr_t *pcs, int n);
/* The frames of stack `id` (valid forever), or NULL with *n = 0. */
const uintptr_t *nprof__stack_get(uint32_t id, int *n);
/* How many distinct stacks are interned; ids run 1..count. */
uint32_t nprof__stack_count(void);
/* Stacks not interned because the table or the arena was full. */
long nprof__stack_dropped(void);
void nprof__stack_prefork(void);
void nprof__stack_postfork(void);

/* ------------------------------------------------------------------ */
/* stackcounts.c: four lock-free counters per interned stack           */
/* ------------------------------------------------------------------ */

#define NPROF_SC_CHUNK 4096
#define NPROF_SC_MAX_CHUNKS 1024          /* 4M stack ids; stacks.c holds fewer */

struct nprof_counts {
	_Atomic int64_t v[4];
};

/* A table of counters by stack id; zero-initialised static storage. */
struct nprof_stackcounts {
	struct nprof_counts *_Atomic chunks[NPROF_SC_MAX_CHUNKS];
};

struct nprof_counts_row {
	uint32_t id;
	int64_t v[4];
};

/*
 * The counters of stack `id`, creating their chunk when `make`; NULL when
 * absent (or the arena is full). The four are two pairs, a count and its
 * companion: v[0]/v[1] and v[2]/v[3]. Writers add the companion first,
 * then the count with memory_order_release.
 */
struct nprof_counts *nprof__stackcounts_at(struct nprof_stackcounts *t, uint32_t id, int make);

typedef void (*nprof_counts_fn)(void *ctx, uint32_t id, const int64_t v[4]);

/* Calls fn for every stack whose v[0] is non-zero, in id order; reads the
 * second pair before the first, each count (acquire) before its
 * companion, so v[2] is never ahead of v[0]. Allocates nothing. */
void nprof__stackcounts_each(struct nprof_stackcounts *t, nprof_counts_fn fn, void *ctx);

/* The same as rows in arena memory (nprof__arena_free them); *n rows.
 * NULL only when the arena is full. */
struct nprof_counts_row *nprof__stackcounts_rows(struct nprof_stackcounts *t, size_t *n);

/* ------------------------------------------------------------------ */
/* symbolize.c, procmaps.c: addresses to functions, files, lines        */
/* ------------------------------------------------------------------ */

/* One source-level frame. Strings stay valid until nprof__sym_close(). */
struct nprof_frame {
	const char *function;   /* demangled when C++; "" when unknown */
	const char *file;       /* full path as in DWARF; "" when unknown */
	int line;               /* 0 when unknown */
	uintptr_t symoff;       /* address - start of the ELF symbol (outermost) */
};

/* An executable mapping of /proc/self/maps. */
struct nprof_mapping {
	uint64_t id;            /* 1-based, stable within one session */
	uintptr_t start, limit; /* [start, limit) */
	uint64_t offset;        /* file offset of `start` */
	const char *file;       /* path, "" for anonymous, "[vdso]" ... */
	const char *build_id;   /* lower-case hex, "" when none */
	int has_functions, has_filenames, has_line_numbers, has_inline_frames;
};

struct nprof_symtab;

/*
 * Opens a symbolization session: reads /proc/self/maps and prepares libdw
 * (a cached state may be reused while the maps have not changed). One
 * session at a time: a second open waits for the first to close. NULL on
 * failure.
 */
struct nprof_symtab *nprof__sym_open(void);

/*
 * Symbolizes one address (already return address - 1). Stores up to
 * `max` frames, innermost inlined call first, the real function last;
 * returns how many (0 when nothing is known). Marks the mapping's has_*
 * flags according to what was found.
 */
int nprof__sym_lookup(struct nprof_symtab *st, uintptr_t addr,
		      struct nprof_frame *out, int max);

/* The mapping containing `addr`, or NULL. */
const struct nprof_mapping *nprof__sym_mapping(struct nprof_symtab *st, uintptr_t addr);

/* All executable mappings, in address order. */
int nprof__sym_mappings(struct nprof_symtab *st, const struct nprof_mapping **out);

/* The main executable's path as the program was started (a symlink such
 * as /usr/bin/redis-server, when it names the same file as
 * /proc/self/exe); its mappings carry this name. "" when unknown. */
const char *nprof__sym_exe_path(struct nprof_symtab *st);

/* Drops the symbolizer's state (libdw, its debug files' descriptors, the
 * caches) when no session has run for idle_ns; never waits. Called from
 * the snapshot thread's tick. */
void nprof__sym_release_idle(int64_t idle_ns);

/* How long the symbolizer keeps its state without a session. */
#ifndef NPROF_SYM_IDLE_NS
#define NPROF_SYM_IDLE_NS (300LL * 1000000000LL)
#endif

/* The kernel's name of x86-64 system call nr (syscall_names.c), NULL
 * when unknown or on another architecture. */
const char *nprof__syscall_name(long nr);

/* A pseudo program counter: the one frame of a thread that was running
 * when its stack was wanted and could not be read; it symbolizes (as pc
 * - 1, like every return address) to the function "[running]", so the
 * thread still counts in every profile and text. */
#define NPROF_PC_RUNNING ((uintptr_t)2)

void nprof__sym_close(struct nprof_symtab *st);

/* In a forked child: forget the parent's session lock. */
void nprof__sym_postfork_child(void);

/* ------------------------------------------------------------------ */
/* proto.c: protocol-buffer writer; pprof.c: profile.proto builder      */
/* ------------------------------------------------------------------ */

struct nprof_value_type {
	const char *type;
	const char *unit;
};

struct nprof_label {
	const char *key;
	const char *str;        /* string label, or NULL for a numeric one */
	int64_t num;
	const char *num_unit;   /* optional unit of a numeric label */
};

struct nprof_profile_desc {
	const struct nprof_value_type *sample_types;
	int n_sample_types;
	struct nprof_value_type period_type;
	int64_t period;
	const char *default_sample_type; /* type name, or NULL */
	int64_t time_nanos;              /* wall-clock start */
	int64_t duration_nanos;
	const char *comment;             /* optional */
};

struct nprof_pb;

/* A profile builder; NULL when out of memory. */
struct nprof_pb *nprof__pb_new(const struct nprof_profile_desc *d);

/*
 * Adds one sample. `pcs` are return addresses, innermost first (the
 * builder symbolizes pcs[i] - 1). `values` has n_sample_types entries.
 * Identical stacks get one Location set; samples are not merged.
 */
int nprof__pb_add(struct nprof_pb *pb, const uintptr_t *pcs, int npcs,
		  const int64_t *values, const struct nprof_label *labels, int nlabels);

/* Symbolizes, encodes and gzips into `out`, then frees the builder. */
int nprof__pb_finish(struct nprof_pb *pb, struct nprof_buf *out);

/* Frees a builder without output. */
void nprof__pb_free(struct nprof_pb *pb);

/* ------------------------------------------------------------------ */
/* profiles/profile.c: what a profile is asked and answers;            */
/* serve/http.c, routes.c: serving it                                  */
/* ------------------------------------------------------------------ */

struct nprof_req {
	const char *name;       /* profile name: path after /debug/pprof/ */
	int debug;              /* 0 unless ?debug=N (validated 0..2) */
	int seconds;            /* -1 when absent; else validated 1..max */
	const char *body;       /* POST body (symbol), may be NULL */
	size_t body_len;
	int query_only_get;     /* 1 for GET/HEAD */
	/* Query parameter lookup; NULL when absent. */
	const char *(*arg)(const struct nprof_req *r, const char *key);
	/* Non-zero once the client has hung up. */
	int (*client_gone)(const struct nprof_req *r);
	/* Called with 1 before nprof__req_sleep_until() sleeps and with 0
	 * after, so the server can lend the request's place among the
	 * expensive requests meanwhile; -1 (after 0) when the client left
	 * while waiting for it again. NULL when nobody cares. */
	int (*pause)(const struct nprof_req *r, int sleeping);
	void *conn;             /* private to http.c */
};

struct nprof_reply {
	int status;                 /* 200 unless set */
	const char *content_type;   /* default "text/plain; charset=utf-8" */
	const char *attachment;     /* file name for Content-Disposition, or NULL */
	const char *encoding;       /* Content-Encoding (the UI's gzipped files), or NULL */
	const char *csp;            /* Content-Security-Policy (the UI), or NULL */
	struct nprof_buf body;
};

/*
 * Sleeps until `when_ns` (nprof__mono_ns() time) in steps of at most
 * 100 ms, so that a client that hangs up is noticed promptly. Returns 0,
 * or -1 as soon as the client is gone (the profile is then abandoned).
 * For handlers that compare two moments (?seconds=N).
 */
int nprof__req_sleep_until(const struct nprof_req *req, int64_t when_ns);

/*
 * For a ?seconds=N profile: sleeps until `from_ns` + N seconds
 * (nprof__mono_ns time). Returns 0, or -1 with a 499 reply when the client
 * hung up meanwhile (the caller frees what it holds and returns).
 */
int nprof__profile_wait(const struct nprof_req *req, struct nprof_reply *rep, int64_t from_ns);

/*
 * One profile over the shared per-stack table (record/stackcounts.c),
 * described by what it is and how its rows are read and written; it
 * knows nothing of HTTP or of ?seconds=. nprof__profile_serve() does the
 * rest for every such profile: a snapshot (two and a subtraction for
 * ?seconds=N, waiting in between while watching the client), then the
 * text form for ?debug=N or profile.proto, and the error replies. Adding
 * a profile is one module filling this struct plus one row in
 * serve/routes.c (docs/internals/profiles.md).
 */
struct nprof_profile_ops {
	const char *name;       /* "heap": download name, error messages */
	const void *self;       /* the module's own state, handed back */
	/* Every stack's cumulative values now, in id order; arena memory. */
	struct nprof_counts_row *(*snapshot)(const void *self, size_t *n);
	/* `now` minus `base` in place (both in id order); returns the number
	 * of rows kept. The module decides which values are cumulative. */
	size_t (*subtract)(const void *self, struct nprof_counts_row *now, size_t n,
			   const struct nprof_counts_row *base, size_t nbase);
	/* The ?debug=N text form into b (may reorder rows); NULL: none. */
	void (*write_text)(const void *self, struct nprof_counts_row *rows, size_t n,
			   struct nprof_buf *b);
	/* profile.proto (gzipped) into out; t0_ns wall-clock start,
	 * dur_ns 0 unless a delta. Returns 0, or -1 out of memory. */
	int (*encode_proto)(const void *self, struct nprof_counts_row *rows, size_t n,
			    int64_t t0_ns, int64_t dur_ns, struct nprof_buf *out);
};

/* Serves the profile `ops` describes for `req` into `rep` (see above). */
void nprof__profile_serve(const struct nprof_profile_ops *ops, const struct nprof_req *req,
			  struct nprof_reply *rep);

/* Sets an error reply: status and a one-line plain-text reason. */
void nprof__reply_error(struct nprof_reply *rep, int status, const char *fmt, ...)
	NPROF_PRINTF(3, 4);

typedef void (*nprof_handler_fn)(const struct nprof_req *req, struct nprof_reply *rep);

/*
 * How a profile takes ?seconds=. A delta profile (heap, allocs, block,
 * mutex, goroutine, fd) compares two moments and has no text form of the
 * difference, so, as Go's serveDeltaProfile, seconds with debug>0 is
 * refused by the serving code before the profile runs. CPU and leaks use
 * seconds as a duration and accept any debug=.
 */
#define NPROF_SECONDS_NO    0
#define NPROF_SECONDS_DELTA 1
#define NPROF_SECONDS_ANY   2

struct nprof_route {
	const char *name;          /* "profile", "heap", ... */
	const char *desc;          /* one line for the index */
	long (*count)(void);       /* for the index, or NULL */
	nprof_handler_fn handle;
	int listed;                /* shown in the index */
	int takes_seconds;         /* NPROF_SECONDS_*: how it takes ?seconds= */
};

/* The route for a profile name (aliases resolved), or NULL. */
const struct nprof_route *nprof__routes_find(const char *name);
/* The routes table, terminated by a zero entry. */
extern const struct nprof_route nprof__routes[];

/* Longest accepted ?seconds=. */
#define NPROF_MAX_SECONDS 600

/* Starts the unix socket and (if configured) TCP listeners. */
int nprof__http_start(void);
void nprof__http_stop(void);

/* record/fd_own.c: 1 once the program closed nprof's serving descriptors with a
 * raw system call; the daemons are then abandoned, never stopped. */
int nprof__fd_own_lost(void);
/* Marks the server lost and says so in one line (once). */
void nprof__fd_own_mark_lost(void);
/* After fork in the child: forget the parent's daemons without touching them. */
void nprof__http_forget(void);

/* ui.c: the web UI (/debug/pprof/ui and ui/...); trace.c: the Chrome
 * trace (/debug/pprof/trace). */
void nprof__ui_handle(const struct nprof_req *req, struct nprof_reply *rep);
void nprof__trace_handle(const struct nprof_req *req, struct nprof_reply *rep);

/* ------------------------------------------------------------------ */
/* cpu.c: the CPU profile                                              */
/* ------------------------------------------------------------------ */

void nprof__cpu_handle(const struct nprof_req *req, struct nprof_reply *rep);
/* Called on a new thread's start (from the pthread_create wrapper). */
void nprof__cpu_thread_start(void);
/* Called when the program installs its own SIGPROF disposition. */
void nprof__cpu_sigprof_taken(void);
/* After fork in the child: drop profile state (timers are not inherited). */
void nprof__cpu_forget(void);

/* record/threads_sample.c: the signal that samples running threads for
 * the thread dumps. Called by the sigaction/signal overrides: the program
 * set a disposition for `sig` (nprof stops using it if it is that
 * signal); and, for a query, tells the program SIG_DFL rather than
 * nprof's handler in *old. */
struct sigaction;
void nprof__threads_sample_sig_taken(int sig);
void nprof__threads_sample_hide(int sig, struct sigaction *old);
/* CPU samples dropped because the sample log was full, all time. */
long nprof__cpu_dropped(void);

/* ------------------------------------------------------------------ */
/* preload.c: the pthread/signal overrides                              */
/* ------------------------------------------------------------------ */

/* Resolves the real functions nprof overrides (dlsym RTLD_NEXT). */
void nprof__preload_init(void);

/* ------------------------------------------------------------------ */
/* fd.c: the descriptor profile; fed by the overrides in fd_hooks.c    */
/* ------------------------------------------------------------------ */

/* The creating call recorded with a descriptor (debug=1 says "by open"). */
enum nprof_fd_op {
	NPROF_FD_OP_OPEN, NPROF_FD_OP_OPENAT, NPROF_FD_OP_CREAT, NPROF_FD_OP_SOCKET,
	NPROF_FD_OP_SOCKETPAIR, NPROF_FD_OP_ACCEPT, NPROF_FD_OP_PIPE, NPROF_FD_OP_DUP,
	NPROF_FD_OP_DUP2, NPROF_FD_OP_FCNTL, NPROF_FD_OP_EVENTFD, NPROF_FD_OP_TIMERFD,
	NPROF_FD_OP_SIGNALFD, NPROF_FD_OP_EPOLL, NPROF_FD_OP_MEMFD, NPROF_FD_OP_INOTIFY,
	NPROF_FD_OP_FOPEN, NPROF_FD_OP_FDOPEN, NPROF_FD_OP_OPENDIR, NPROF_FD_OP_SCM_RIGHTS,
	NPROF_FD_OP_COUNT
};

/*
 * Records that the program created fds[0..n) through `op`: captures the
 * caller's stack (the override calling this is frame 1 and is skipped),
 * interns it and stamps each descriptor's slot. Call only from an
 * override, on a program thread (hook guard not raised), with the
 * descriptors already open. Preserves errno. Not re-entrant on one thread
 * (a nested call, from a signal handler, records nothing).
 */
void nprof__fd_track(const int *fds, int n, int op);

/*
 * An override created `fd` while the hook guard was raised: flags it as
 * nprof's own (hidden from the profile, protected from the program's
 * close). Preserves errno.
 */
void nprof__fd_created_guarded(int fd);

/* Forgets the record of `fd` (the caller is about to close it). Loads
 * and stores only: safe in signal handlers and hooks. */
void nprof__fd_forget_sigsafe(int fd);

/* Forgets every record in [lo, hi] except nprof's own descriptors. */
void nprof__fd_forget_range_sigsafe(unsigned lo, unsigned hi);

/*
 * The program is about to close `fd`: -EBADF when it is nprof's own
 * descriptor and the caller is the program (nprof running, guard not
 * raised; it must not be closed), else forgets its record and returns 0.
 * Loads and stores only.
 */
int nprof__fd_close_sigsafe(int fd);

/* Non-zero when `fd` has a record (created by the program, seen by nprof,
 * or nprof's own). */
int nprof__fd_known_sigsafe(int fd);

/* Non-zero when `fd` is one of nprof's own descriptors. */
int nprof__fd_is_internal_sigsafe(int fd);

/* Non-zero when `fd` is nprof's own and the caller is the program (nprof
 * running, guard not raised): the program must not close or replace it. */
int nprof__fd_is_protected_sigsafe(int fd);

/* The lowest of nprof's own descriptors in [lo, hi], or -1. */
int nprof__fd_next_internal_sigsafe(unsigned lo, unsigned hi);

/* /debug/pprof/fd: debug=0 proto, debug=1 text, seconds=N delta. */
void nprof__fd_handle(const struct nprof_req *req, struct nprof_reply *rep);

/* Open descriptors of the program (nprof's own excluded), for the index. */
long nprof__fd_count(void);

/* Descriptor records lost because nprof's memory was full, all time. */
long nprof__fd_dropped(void);

/* For /metrics: open descriptors by kind (every kind, zeros included);
 * returns the number of kinds stored (<= max) or a negative errno. */
int nprof__fd_count_by_kind(const char **names, long *counts, int max);

/* For the leak snapshots (leaks.c): fn(ctx, stack, kind, count) per
 * (creating stack, kind) group of open descriptors, reconciled as the
 * profile (stack 0 = unknown origin). 0 or a negative errno. */
int nprof__fd_each_group(void (*fn)(void *ctx, uint32_t stack, const char *kind,
				    int64_t count), void *ctx);

/* ------------------------------------------------------------------ */
/* contention.c: the block and mutex profiles; fed by sync_hooks.c     */
/* ------------------------------------------------------------------ */

/* The block rate (ns) and mutex fraction in force; -1 until read from
 * nprof__cfg on first use. Read by the overrides on their slow paths. */
extern _Atomic long nprof__block_rate;
extern _Atomic long nprof__mutex_fraction;

/* Threads registered as waiting for a mutex (mutex profile on). Zero
 * means pthread_mutex_unlock has nothing to charge: its override tests
 * only this, so with the mutex profile off an unlock costs one load. */
extern _Atomic long nprof__mutex_waiting;

/*
 * A wait that began at `start_ns` (CLOCK_MONOTONIC) in an interposed
 * primitive has just ended: samples it into the block profile as Go's
 * blockevent (every wait >= rate, shorter ones with probability d/rate),
 * charged to the stack of the override's caller. Call from the override
 * itself, on the waiting thread. Preserves errno; does nothing with the
 * rate off or the hook guard raised.
 */
void nprof__contention_block(int64_t start_ns);

/*
 * A thread is about to block on mutex `m` since `start_ns`: registers it
 * so that the unlocker can be charged its delay. Returns a slot for
 * nprof__mutex_wait_end, or -1 (mutex profile off, guard raised, table
 * full: nothing to end). Preserves errno; never waits for a lock its own
 * thread may hold.
 */
int nprof__mutex_wait_begin(const void *m, int64_t start_ns);

/* The waiter of `slot` (>= 0) has acquired the mutex or given up. */
void nprof__mutex_wait_end(int slot, int64_t start_ns);

/*
 * The calling thread is about to unlock `m` (call before the real
 * unlock): charges the registered waiters' delay since the previous
 * release to the caller's stack, sampled 1/fraction as Go's mutexevent.
 * Preserves errno.
 */
void nprof__mutex_unlocking(const void *m);

/* /debug/pprof/block and /debug/pprof/mutex: debug=0 proto, debug=1
 * Go's "--- contention:" / "--- mutex:" text, seconds=N delta. */
void nprof__block_handle(const struct nprof_req *req, struct nprof_reply *rep);
void nprof__mutex_handle(const struct nprof_req *req, struct nprof_reply *rep);

/* Stacks with a recorded event, for the index. */
long nprof__block_count(void);
long nprof__mutex_count(void);

/* ------------------------------------------------------------------ */
/* heap.c: the heap and allocs profiles; fed by malloc_hooks.c          */
/* ------------------------------------------------------------------ */

/* /debug/pprof/heap: debug=0 proto, debug=1 Go's text, seconds=N delta. */
void nprof__heap_handle(const struct nprof_req *req, struct nprof_reply *rep);

/* /debug/pprof/allocs: the same data, default_sample_type alloc_space. */
void nprof__allocs_handle(const struct nprof_req *req, struct nprof_reply *rep);

/* Stacks with a sampled allocation (the index's count, as Go's). */
long nprof__heap_count(void);

/* Heap samples not recorded because nprof's memory was full, all time. */
long nprof__heap_dropped(void);

/* For /metrics: process-wide totals, un-sampled as the heap profile's
 * values; all zero while heap profiling is off. */
struct nprof_heap_totals {
	int64_t inuse_bytes, inuse_objects;   /* live now */
	int64_t alloc_bytes, alloc_objects;   /* since start; never decrease */
};
void nprof__heap_totals(struct nprof_heap_totals *t);

/* For the leak snapshots (leaks.c): fn(ctx, stack, bytes, samples,
 * births) per stack with live sampled blocks: bytes un-sampled as the heap
 * profile's inuse_space, samples the sampled blocks alive, births the
 * sampled blocks ever allocated there. Lock-free reads, no allocation. */
void nprof__heap_each_inuse(void (*fn)(void *ctx, uint32_t stack, int64_t bytes,
				       int64_t samples, int64_t births), void *ctx);

/* ------------------------------------------------------------------ */
/* Profiles' life-cycle hooks, called by core.c                        */
/* Each module's init runs in nprof_start after configuration and      */
/* before serving; prefork/postfork take and release the module's     */
/* locks around fork (child: also forget what the parent owned).       */
/* ------------------------------------------------------------------ */

/* foreign_malloc: another allocator was preloaded before nprof
 * (nprof__heap_foreign), so the heap profile stays off. */
void nprof__heap_init(int foreign_malloc);
void nprof__heap_prefork(void);
void nprof__heap_postfork(int child);

void nprof__threads_init(void);
void nprof__threads_prefork(void);
void nprof__threads_postfork(int child);

void nprof__fd_init(void);
void nprof__fd_prefork(void);
void nprof__fd_postfork(int child);

/* ------------------------------------------------------------------ */
/* threads.c: the thread registry and the thread profiles              */
/* ------------------------------------------------------------------ */

/* How a thread's wait duration was obtained. */
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
	char state;                /* kernel state letter: R S D T Z ... */
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
void nprof__threads_handle(const struct nprof_req *req, struct nprof_reply *rep);
void nprof__threadcreate_handle(const struct nprof_req *req, struct nprof_reply *rep);
long nprof__threads_count(void);
long nprof__threadcreate_count(void);

/* ------------------------------------------------------------------ */
/* leaks.c: leak suspects                                              */
/* ------------------------------------------------------------------ */

/*
 * For /metrics (metrics.c): how many suspects of `kind` ("heap",
 * "threads" or "fds") /debug/pprof/leaks would rank now, over the ring's
 * whole window; 0 before there are enough snapshots to rank. Must be
 * cheap (a scrape runs it three times, every few seconds) and must not
 * wait for a fresh snapshot. Called on an HTTP thread, guard raised.
 */
long nprof__leaks_suspects(const char *kind);

/*
 * Starts the background snapshot thread (one of nprof's own: guard
 * raised, all signals blocked) that every nprof__cfg.snapshot_s seconds
 * records heap in-use bytes by stack, threads by (stack, wait reason) and
 * descriptors by (stack, kind) into a bounded ring. Called by nprof_start
 * after the profiles' init; logs and carries on without snapshots when the
 * thread cannot start. nprof__leaks_stop() wakes and joins it (promptly:
 * at most one snapshot in progress). After fork, the child forgets the
 * ring and the thread (which does not exist there) without touching locks.
 */
void nprof__leaks_start(void);
void nprof__leaks_stop(void);
void nprof__leaks_postfork_child(void);

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
/* serve/follow_proxy.c, ?pid=N: 0 when N is this process (serve
 * locally); 1 when `rep` holds the answer (N's, proxied through its unix
 * socket, or an error). */
int nprof__follow_proxy(const struct nprof_req *req, const char *pid_s, const char *path,
			const char *query, struct nprof_reply *rep);
/* api/core.c: starts nprof in a forked child with the parent's settings,
 * its own unix socket and no TCP listener. */
void nprof__core_follow_start(void);

/* GET /debug/pprof/leaks: text table, or format=json (docs/reference.md §4); seconds=N
 * ranks fresh snapshots taken over the next N seconds. */
void nprof__leaks_handle(const struct nprof_req *req, struct nprof_reply *rep);
/* Suspects the ring ranks now (all kinds), for the index. */
long nprof__leaks_count(void);

/* ------------------------------------------------------------------ */
/* check.c: leak checks (`nprof check`, nprof_check_begin/end)         */
/* ------------------------------------------------------------------ */

/* At exit (core.c's destructor calls it through nprof__core_at_exit_fn),
 * with NPROF_CHECK=DIR set: writes this process's report to
 * DIR/check.<pid>.{txt,json}. Once per process. */
void nprof__check_at_exit(void);

/* After fork in the child (through nprof__core_postfork_child_fn), with
 * NPROF_CHECK set: keeps the child recording, its report covering what it
 * makes after the fork. */
void nprof__check_postfork_child(void);

/* core.c's hooks for check.c, set by check.c's constructor; NULL when
 * check.c is not linked in. */
extern void (*nprof__core_at_exit_fn)(void);
extern void (*nprof__core_postfork_child_fn)(void);

/* The kind of a suppression line ("thread:", "fd:", "heap:" or "leak:"
 * prefix) as check.c numbers them, or -1. */
int nprof__check_supp_kind(const char *line);

/* ------------------------------------------------------------------ */
/* metrics.c: /metrics, the Prometheus exposition                      */
/* ------------------------------------------------------------------ */

/* GET /metrics: Prometheus text format 0.0.4 (docs/reference.md §5). */
void nprof__metrics_handle(const struct nprof_req *req, struct nprof_reply *rep);

#endif /* NPROF_INT_H */
