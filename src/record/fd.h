/*
 * fd.h - the descriptor table (fd.c): who created each open descriptor,
 * fed by the overrides in fd_hooks.c, and which descriptors are nprof's
 * own (fd_own.c: still ours?). The profile built from it is
 * profiles/fd_report.h; what fd.c shares only with it is fd_int.h.
 */
#ifndef NPROF_FD_H
#define NPROF_FD_H

#include <stdint.h>

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

/* Descriptor records lost because nprof's memory was full, all time. */
long nprof__fd_dropped(void);

/* Life cycle, called by core.c: init in nprof_start after configuration,
 * prefork/postfork around fork (child: also forget what the parent owned). */
void nprof__fd_init(void);
void nprof__fd_prefork(void);
void nprof__fd_postfork(int child);

/* record/fd_own.c: 1 once the program closed nprof's serving descriptors with a
 * raw system call, until the server restarted; the daemons of that
 * generation are abandoned, never stopped. */
int nprof__fd_own_lost(void);
/* The serving generation: 0 at start, one more at each loss. */
int nprof__fd_own_gen(void);
/* Marks the server lost, says so in one line and calls the function given
 * to nprof__fd_own_on_lost (once per loss, at most 8 times). */
void nprof__fd_own_mark_lost(void);
/* The serving layer's restart (called on the thread that noticed). */
void nprof__fd_own_on_lost(void (*fn)(void));
/* The restarted server serves: the loss is over. */
void nprof__fd_own_restarted(void);
/* One of nprof's own new descriptors: `fd`, or a high-numbered duplicate
 * of it (the low one closed; see fd_own.c). Call with the guard raised. */
int nprof__fd_own_place(int fd);

#endif /* NPROF_FD_H */
