/*
 * http_int.h - what the serving files (http.c, listen.c, routes.c) share
 * beyond serve.h and routes.h: the listener, the ?pid= proxy, and the
 * index page, which is not a route of its own (it answers /debug/pprof and
 * /debug/pprof/, not /debug/pprof/NAME), so other modules never call it.
 */
#ifndef NPROF_HTTP_INT_H
#define NPROF_HTTP_INT_H

struct nprof_gate;

#include <sys/socket.h>
#include <sys/un.h>

#include <microhttpd.h>

#include "profile.h"
#include "routes.h"

/* serve/follow_proxy.c, ?pid=N: 0 when N is this process (serve
 * locally); 1 when `rep` holds the answer (N's, proxied through its unix
 * socket, or an error). */
int nprof__follow_proxy(const struct nprof_req *req, const char *pid_s, const char *path,
			const char *query, struct nprof_reply *rep);

/* One listening socket and the daemon serving it. */
struct listener {
	struct MHD_Daemon *daemon;  /* opaque here: libmicrohttpd's */
	struct nprof_gate *gate;    /* http_gate.c: accepts and checks heads */
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
 * l->fd and l->addr. `again` (serving again after the program closed our
 * descriptors): binds l->addr, the address bound before. Logs and
 * returns a negative errno.
 */
int nprof__listen_tcp(struct listener *l, int again);

/*
 * Writes the HTML index of /debug/pprof/: one row per listed route with
 * its count (route->count(), when it has one) and a link, the link to the
 * full thread dump when a "goroutine" route exists, and every route's
 * description. Every dynamic string is HTML-escaped. Runs on an HTTP
 * connection thread with the hook guard raised; takes no lock of its own.
 */
void nprof__routes_index(const struct nprof_req *req, struct nprof_reply *rep);

/* ------------------------------------------------------------------ */
/* http_head.c: the strict request-head check                          */
/* ------------------------------------------------------------------ */

#define NPROF_HEAD_MAX ((size_t)16 * 1024)      /* request line + headers */
#define NPROF_HEAD_MAX_URI ((size_t)2048)       /* request target */
#define NPROF_HEAD_MAX_FIELDS 64                /* header fields */
#define NPROF_HEAD_MAX_BODY ((size_t)1 << 20)   /* Content-Length */
#define NPROF_HEAD_MAX_CHUNKED ((size_t)64 * 1024) /* a whole chunked body */

enum { NPROF_HEAD_GET = 1, NPROF_HEAD_HEAD, NPROF_HEAD_POST };

/* What nprof__head_check() found. */
struct nprof_head {
	int status;          /* 0: acceptable; else the error status to send */
	const char *reason;  /* one line, constant (never the client's bytes) */
	size_t head_len;     /* head bytes (plus a chunked body) when decided */
	size_t body_len;     /* Content-Length, 0 when none */
	int method;          /* NPROF_HEAD_GET/HEAD/POST once the line is read */
	int http11, chunked;
};

/*
 * Checks the first n bytes a client sent. 0: incomplete, wait for more;
 * 1: decided, h->status 0 (a plain request libmicrohttpd serves without
 * an error of its own) or the error. `full` says no more bytes can be
 * looked at (the peek buffer is full): an incomplete head is then 431 and
 * an incomplete chunked body 413. A chunked body must arrive whole with
 * the head (at most NPROF_HEAD_MAX_CHUNKED). Pure; never echoes input.
 */
int nprof__head_check(const char *buf, size_t n, int full, struct nprof_head *h);

/* The request line alone, CRLF included: always 1, h->status as above. */
int nprof__head_check_line(const char *buf, size_t len, struct nprof_head *h);

/* ------------------------------------------------------------------ */
/* http_gate.c: the accept loop in front of libmicrohttpd               */
/* ------------------------------------------------------------------ */

/*
 * Starts the gate of `l` (l->fd listening, l->daemon started with
 * MHD_USE_NO_LISTEN_SOCKET and nprof__gate_notify as its connection
 * notifier): a thread that accepts, waits for a whole request head under
 * a deadline, checks it and hands good connections to the daemon. 0 or a
 * negative errno (logged).
 */
int nprof__gate_start(struct listener *l);

/* Stops and joins the gate thread and closes what it holds (not l->fd). */
void nprof__gate_stop(struct listener *l);

/* In a forked child: closes the gate's descriptors, joins nothing. */
void nprof__gate_forget(struct listener *l);

/* After the program closed our descriptors with a raw system call: lets
 * the gate's thread go (detached; it returned or parked) and forgets its
 * connections without closing them. */
void nprof__gate_abandon(struct listener *l);

/* The gate that MHD_OPTION_NOTIFY_CONNECTION must be given as cls. */
void *nprof__gate_of(struct listener *l);

/* MHD_OPTION_NOTIFY_CONNECTION callback: counts connections out. */
void nprof__gate_notify(void *cls, struct MHD_Connection *c, void **socket_context,
			enum MHD_ConnectionNotificationCode toe);

/* From the request-completed callback: counts the request out of the
 * gate's budget as soon as it is answered. */
void nprof__gate_request_done(struct MHD_Connection *c);

/* Sends a one-line error the way nprof's own errors look, on a socket
 * libmicrohttpd does not own; used by the gate. */
void nprof__gate_send_error(int fd, int status, const char *reason, int head_only);

/* Per-request state; nprof_req.conn points here. */
struct http_conn {
	struct MHD_Connection *mhd;
	const struct listener *lsn;
	const struct nprof_route *route; /* NULL for the index */
	const char *name;
	const char *url;            /* the path asked (libmicrohttpd's, for the request) */
	int debug, seconds, is_post, too_big;
	int holds_work;             /* holds one of the HTTP_WORKERS places */
	int lent_work;              /* gave it up while sleeping (req_pause) */
	size_t seen;                /* POST body bytes received */
	struct nprof_buf body;      /* POST body, up to HTTP_MAX_BODY */
};

/* http_admit.c: whether to serve the request of hc (its line and headers
 * only, before any body is read): 0, or -1 with the refusal in rep. Fills
 * hc->route, name, url, is_post, debug and seconds. */
int nprof__http_admit_request(struct http_conn *hc, const char *url, const char *method,
			      const char *version, struct nprof_reply *rep);

#endif /* NPROF_HTTP_INT_H */
