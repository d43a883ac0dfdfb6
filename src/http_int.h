/*
 * http_int.h - what http.c needs from routes.c beyond nprof_int.h.
 *
 * Private to the two serving files: the index page is not a route of its
 * own (it answers /debug/pprof and /debug/pprof/, not /debug/pprof/NAME),
 * so it is not in nprof__routes[] and other modules never call it.
 */
#ifndef NPROF_HTTP_INT_H
#define NPROF_HTTP_INT_H

#include "nprof_int.h"

/*
 * Writes the HTML index of /debug/pprof/: one row per listed route with
 * its count (route->count(), when it has one) and a link, the link to the
 * full thread dump when a "goroutine" route exists, and every route's
 * description. Every dynamic string is HTML-escaped. Runs on an HTTP
 * connection thread with the hook guard raised; takes no lock of its own.
 */
void nprof__routes_index(const struct nprof_req *req, struct nprof_reply *rep);

#endif /* NPROF_HTTP_INT_H */
