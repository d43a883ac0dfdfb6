/*
 * trace.h - the trace (trace.c): /debug/pprof/trace, a timeline in Trace
 * Event JSON.
 */
#ifndef NPROF_TRACE_H
#define NPROF_TRACE_H

#include "profile.h"

/* GET /debug/pprof/trace?seconds=N. */
void nprof__trace_handle(const struct nprof_req *req, struct nprof_reply *rep);

#endif /* NPROF_TRACE_H */
