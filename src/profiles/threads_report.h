/*
 * threads_report.h - the goroutine and threadcreate profiles
 * (threads_report.c) and the signal that dumps the threads to stderr
 * (threads_signal.c).
 */
#ifndef NPROF_THREADS_REPORT_H
#define NPROF_THREADS_REPORT_H

#include "profile.h"

/* Handlers of /debug/pprof/goroutine and /debug/pprof/threadcreate. */
void nprof__threads_handle(const struct nprof_req *req, struct nprof_reply *rep);
void nprof__threadcreate_handle(const struct nprof_req *req, struct nprof_reply *rep);

struct nprof_buf;
struct nprof_thread_set;
/* Appends the goroutine?debug=2 text of a collection (one block per
 * thread, then nprof's notes) to b. */
void nprof__threads_write_debug2(struct nprof_buf *b, const struct nprof_thread_set *s);

/* threads_signal.c: starts the NPROF_DUMP_SIGNAL thread and handler
 * (once; nothing when unset), and forgets them after fork in the child. */
void nprof__threads_dump_signal_start(void);
void nprof__threads_dump_signal_forget(void);

#endif /* NPROF_THREADS_REPORT_H */
