/*
 * routes.h - the endpoints (routes.c): one row per profile or page, what
 * serve/http.c checks a request against, and the handlers of serve's own
 * pages (the web UI, /metrics).
 */
#ifndef NPROF_ROUTES_H
#define NPROF_ROUTES_H

#include "profile.h"

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

/* ui.c: the web UI (/debug/pprof/ui and ui/...). */
void nprof__ui_handle(const struct nprof_req *req, struct nprof_reply *rep);

/* GET /metrics: Prometheus text format 0.0.4 (docs/reference.md §5). */
void nprof__metrics_handle(const struct nprof_req *req, struct nprof_reply *rep);

#endif /* NPROF_ROUTES_H */
