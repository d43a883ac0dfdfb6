/*
 * fd_int.h - what the descriptor table (fd.c) shares with the profile
 * built from it (fd_report.c): the snapshot of open descriptors and the
 * names of kinds and creating calls. Private to those two files.
 */
#ifndef NPROF_FD_INT_H
#define NPROF_FD_INT_H

#include "buf.h"
#include "fd.h"

enum fd_kind {
	K_FILE, K_TCP, K_UDP, K_UNIX, K_PIPE, K_EVENTFD, K_TIMERFD, K_EPOLL,
	K_SIGNALFD, K_MEMFD, K_OTHER, K_COUNT
};

/* One open descriptor of the program. */
struct fd_ent {
	int fd;
	uint8_t kind;
	uint8_t op;
	uint8_t unknown;        /* no record: created before nprof or unseen */
	uint32_t stack;         /* 0 when unknown */
	int64_t born;
	uint32_t target;        /* offset of its target in snap.targets; debug=1 */
};

struct snap {
	struct fd_ent *e;
	size_t n, cap;
	int *hidden;            /* nprof's own descriptors, for debug=1 */
	size_t nhidden, cap_hidden;
	struct nprof_buf targets;
	int64_t at;             /* coarse ns of the listing */
	int failed;
};

/* Names of the kinds (profile label values) and of the creating calls. */
extern const char *const nprof__fd_kind_names[K_COUNT];
extern const char *const nprof__fd_op_names[NPROF_FD_OP_COUNT];

/* CLOCK_MONOTONIC_COARSE in ns: the clock descriptor ages are kept in. */
int64_t nprof__fd_coarse_ns(void);

/*
 * Lists /proc/self/fd, reconciles each number with the table, classifies
 * it, and drops records of descriptors that are gone. With want_targets,
 * records each descriptor's target text. Runs with the guard raised, so
 * the descriptors it opens are internal and hidden from itself. Returns 0
 * or a negative errno; free the snapshot with nprof__fd_snap_free either way.
 */
int nprof__fd_snap_take(struct snap *s, int want_targets);
void nprof__fd_snap_free(struct snap *s);

#endif /* NPROF_FD_INT_H */
