/*
 * stacks.h - a call stack from capture to counting: unwind.c captures
 * return addresses, stacks.c interns them as a small id, stackcounts.c
 * keeps four lock-free counters per id (the shared per-stack table every
 * profile over stacks reads).
 */
#ifndef NPROF_STACKS_H
#define NPROF_STACKS_H

#include <stddef.h>
#include <stdint.h>

/* Deepest stack nprof records; deeper stacks are truncated at the root. */
#define NPROF_MAX_FRAMES 64

/* A pseudo program counter: the one frame of a thread that was running
 * when its stack was wanted and could not be read; it symbolizes (as pc
 * - 1, like every return address) to the function "[running]", so the
 * thread still counts in every profile and text. */
#define NPROF_PC_RUNNING ((uintptr_t)2)

/* ------------------------------------------------------------------ */
/* unwind.c: stack capture (libunwind, loaded privately)              */
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
 * For the heap's stack cache (heap_thread.c): the calling thread's stack, innermost
 * first from the caller of this function, as return addresses in pcs[]
 * and in slots[] the address each was read from (0 when it cannot be
 * vouched for: the frame a signal interrupted). Returns the number of
 * frames (<= max), or -1 when libunwind's step API is missing.
 */
int nprof__unwind_here_slots(uintptr_t *pcs, uintptr_t *slots, int max);

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
/* stacks.c: interned call stacks                                     */
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
/* stackcounts.c: four lock-free counters per interned stack          */
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

/* Rows of whatever `each` visits (a table of per-thread shards summed, for
 * the heap profile), built as nprof__stackcounts_rows builds them. */
struct nprof_counts_row *nprof__stackcounts_rows_of(void (*each)(nprof_counts_fn fn, void *ctx),
						   size_t *n);

#endif /* NPROF_STACKS_H */
