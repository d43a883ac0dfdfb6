/*
 * http_int.h - what the serving files (http.c, listen.c, routes.c) share
 * beyond nprof_int.h: the listener, and the index page, which is not a
 * route of its own (it answers /debug/pprof and /debug/pprof/, not
 * /debug/pprof/NAME), so other modules never call it.
 */
#ifndef NPROF_HTTP_INT_H
#define NPROF_HTTP_INT_H

struct MHD_Daemon;

#include <sys/socket.h>
#include <sys/un.h>

#include "nprof_int.h"

/* One listening socket and the daemon serving it. */
struct listener {
	struct MHD_Daemon *daemon;  /* opaque here: libmicrohttpd's */
	int fd;                     /* the listening socket, -1 when none */
	int is_unix;
	struct sockaddr_storage addr; /* TCP: the bound address */
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)]; /* unix */
};


/*
 * Opens the unix socket at nprof__cfg.socket_path in a private (0700)
 * directory, mode 0600, replacing a stale socket file but never a live
 * one; fills l->fd and l->path. Logs and returns a negative errno.
 */
int nprof__listen_unix(struct listener *l);

/*
 * Opens the TCP listener of nprof__cfg.http ("[host]:port", ":port" for
 * 127.0.0.1), refusing a non-loopback address without a token; fills
 * l->fd and l->addr. Logs and returns a negative errno.
 */
int nprof__listen_tcp(struct listener *l);

/*
 * Writes the HTML index of /debug/pprof/: one row per listed route with
 * its count (route->count(), when it has one) and a link, the link to the
 * full thread dump when a "goroutine" route exists, and every route's
 * description. Every dynamic string is HTML-escaped. Runs on an HTTP
 * connection thread with the hook guard raised; takes no lock of its own.
 */
void nprof__routes_index(const struct nprof_req *req, struct nprof_reply *rep);

#endif /* NPROF_HTTP_INT_H */
