/*
 * fd_report.h - the descriptor profile (fd_report.c), built from the
 * descriptor table (record/fd.c), and its counts for the index, /metrics
 * and the leak snapshots.
 */
#ifndef NPROF_FD_REPORT_H
#define NPROF_FD_REPORT_H

#include <stdint.h>

#include "profile.h"

/* /debug/pprof/fd: debug=0 proto, debug=1 text, seconds=N delta. */
void nprof__fd_handle(const struct nprof_req *req, struct nprof_reply *rep);

/* Open descriptors of the program (nprof's own excluded), for the index. */
long nprof__fd_count(void);

/* For /metrics: open descriptors by kind (every kind, zeros included);
 * returns the number of kinds stored (<= max) or a negative errno. */
int nprof__fd_count_by_kind(const char **names, long *counts, int max);

/* For the leak snapshots (leaks.c): fn(ctx, stack, kind, count) per
 * (creating stack, kind) group of open descriptors, reconciled as the
 * profile (stack 0 = unknown origin). 0 or a negative errno. */
int nprof__fd_each_group(void (*fn)(void *ctx, uint32_t stack, const char *kind,
				    int64_t count), void *ctx);

#endif /* NPROF_FD_REPORT_H */
