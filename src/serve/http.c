/*
 * http.c - nprof's embedded HTTP server.
 *
 * Owns one libmicrohttpd daemon per listening socket (the always-on 0600
 * unix socket and the optional TCP listener, opened by listen.c). All of
 * HTTP itself (parsing, keep-alive, chunking, header limits, timeouts) is
 * libmicrohttpd's; this file runs the daemons, has each request checked
 * (http_admit.c: who may ask what - method, path, Host header, bearer
 * token, the common query parameters), hands it to a route (routes.c) and
 * turns the route's nprof_reply into a response. docs/internals/http.md
 * explains the limits and checks.
 *
 * Threads: each daemon runs a listening thread and one thread per
 * connection (MHD_USE_THREAD_PER_CONNECTION), so a CPU profile that holds
 * its connection for N seconds never delays anybody else. They are
 * created with every signal blocked and the hook guard raised, so they
 * never take the program's signals and the heap profiler never records
 * libmicrohttpd's allocations; the request handler raises the guard again
 * in case a thread slipped through unmarked.
 *
 * Locking: start and stop are serialized by `lock`. Request handlers read
 * only nprof__cfg and the listener structs, which do not change while a
 * daemon runs (stop joins every connection thread before clearing them).
 * nprof__http_forget() runs in a forked child and takes no lock.
 *
 * Signals: nothing here may be called from a signal handler.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <microhttpd.h>

#include "arena.h"
#include "base.h"
#include "buf.h"
#include "fd.h"
#include "http_int.h"
#include "profile.h"
#include "routes.h"
#include "serve.h"

/*
 * Limits (docs/internals/http.md says why these values):
 * - 64 connections in all: profiles are fetched by people and scrapers,
 *   never by crowds, and each connection is a thread.
 * - 16 per client address on TCP, so one client cannot take all 64.
 * - 30 s without a byte from the client closes the connection (slow
 *   clients, idle keep-alives). A handler running for `seconds` is not
 *   idle time: libmicrohttpd does not time out a connection whose
 *   request is being processed.
 * - 32 KiB per connection for the request line and headers, so a 1 MB
 *   header gets 431 from libmicrohttpd itself.
 * - 1 MiB of POST body (a symbol request of about 50,000 addresses); an
 *   oversized chunked body is drained up to 8 MiB for a clean 413, then
 *   the connection is cut.
 */
#define HTTP_MAX_CONNECTIONS 256u
#define HTTP_IDLE_TIMEOUT_S 30u
#define HTTP_CONN_MEMORY ((size_t)64 * 1024)
#define HTTP_MAX_BODY ((size_t)1 << 20)
#define HTTP_DROP_BODY ((size_t)8 << 20)

/*
 * Expensive requests (building a profile, a debug=2 dump, symbolizing)
 * run HTTP_WORKERS at a time, so that a loop of clients costs the program
 * at most one core; up to HTTP_QUEUE more wait their turn, each at most
 * HTTP_QUEUE_WAIT_S, and the rest get 503 at once. A request waiting out
 * its seconds= gives its place up while it sleeps.
 */
#define HTTP_WORKERS 1
#define HTTP_QUEUE 32
#define HTTP_QUEUE_WAIT_S 10

#define TEXT_PLAIN "text/plain; charset=utf-8"


static pthread_mutex_t work_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t work_cv = PTHREAD_COND_INITIALIZER;
static int work_busy, work_waiting;

static struct listener lsn_unix = { .fd = -1, .is_unix = 1 };
static struct listener lsn_tcp = { .fd = -1 };
/* "127.0.0.1:6060" while the TCP listener serves; "" otherwise. */
static char tcp_where[INET6_ADDRSTRLEN + 16];
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static int started;
/* Set while stopping, so that long handlers see their client as gone. */
static volatile int stopping;

#define BODY_TOO_LARGE "nprof: request body over 1 MiB"
static const char oom_text[] = "nprof: out of memory building the response\n";

/* ------------------------------------------------------------------ */
/* Replies                                                             */
/* ------------------------------------------------------------------ */

/* Copies a file name for Content-Disposition, dropping what would break
 * out of the quoted string or the header line. */
static void attachment_header(char *out, size_t cap, const char *name)
{
	static const char pre[] = "attachment; filename=\"";
	size_t n = sizeof(pre) - 1;

	memcpy(out, pre, n);
	for (; *name && n + 2 < cap; name++)
		if ((unsigned char)*name >= 0x20 && *name != 0x7f && *name != '"' &&
		    *name != '\\')
			out[n++] = *name;
	out[n++] = '"';
	out[n] = '\0';
}

/*
 * Turns `rep` into a response and queues it. The body buffer is handed to
 * libmicrohttpd, which frees it with nprof__arena_free once sent. A body
 * that ran out of memory is never sent truncated: it becomes a 503.
 */
static enum MHD_Result queue_reply(struct MHD_Connection *c, struct nprof_reply *rep)
{
	struct MHD_Response *r;
	enum MHD_Result ret;
	int status = rep->status ? rep->status : MHD_HTTP_OK;
	const char *ctype = rep->content_type ? rep->content_type : TEXT_PLAIN;
	char disp[160];

	if (rep->body.failed) {
		nprof__buf_free(&rep->body);
		status = MHD_HTTP_SERVICE_UNAVAILABLE;
		ctype = TEXT_PLAIN;
		r = MHD_create_response_from_buffer(sizeof(oom_text) - 1, (void *)oom_text,
						    MHD_RESPMEM_PERSISTENT);
	} else {
		size_t len = 0;
		char *data = nprof__buf_take(&rep->body, &len);

		r = MHD_create_response_from_buffer_with_free_callback(len, data,
									nprof__arena_free);
		if (r == NULL)
			nprof__arena_free(data);
	}
	if (r == NULL)
		return MHD_NO; /* libmicrohttpd is out of memory: drop the connection */

	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, ctype);
	MHD_add_response_header(r, MHD_HTTP_HEADER_X_CONTENT_TYPE_OPTIONS, "nosniff");
	/* Where this process listens on TCP, so that `nprof ps` can ask the
	 * process itself (a program that rewrites its title, as redis and
	 * nginx do, overwrites the environment ps used to read). */
	if (tcp_where[0] != '\0')
		MHD_add_response_header(r, "X-Nprof-Http", tcp_where);
	/* One request per connection, so that every request passes the gate
	 * (http_gate.c) and its head deadline and budgets. */
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONNECTION, "close");
	if (rep->csp != NULL)
		MHD_add_response_header(r, "Content-Security-Policy", rep->csp);
	if (rep->encoding != NULL && status < 400 && !rep->body.failed)
		MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_ENCODING, rep->encoding);
	if (status >= 400) {
		/* Go's pprof marks its own errors so clients can tell them from a
		 * proxy's; an error is never a download. */
		MHD_add_response_header(r, "X-Go-Pprof", "1");
		if (status == MHD_HTTP_UNAUTHORIZED)
			MHD_add_response_header(r, MHD_HTTP_HEADER_WWW_AUTHENTICATE,
						"Bearer realm=\"nprof\"");
		if (status == MHD_HTTP_METHOD_NOT_ALLOWED)
			MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, "GET, HEAD, POST");
	} else if (rep->attachment) {
		attachment_header(disp, sizeof(disp), rep->attachment);
		MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_DISPOSITION, disp);
	}
	ret = MHD_queue_response(c, (unsigned int)status, r);
	MHD_destroy_response(r);
	return ret;
}

/* ------------------------------------------------------------------ */
/* Serving                                                             */
/* ------------------------------------------------------------------ */

static const char *req_arg(const struct nprof_req *r, const char *key)
{
	const struct http_conn *hc = r->conn;

	return MHD_lookup_connection_value(hc->mhd, MHD_GET_ARGUMENT_KIND, key);
}

/* Whether the peer has hung up (or we are stopping), without blocking:
 * long handlers poll this to stop early and release what they hold. */
static int req_client_gone(const struct nprof_req *r);
static int work_enter(struct http_conn *hc, int queue);
static void work_leave(struct http_conn *hc);

/* nprof_req.pause: a request waiting out its seconds= costs nothing, so
 * it lends its worker place meanwhile and queues for it again after. */
static int req_pause(const struct nprof_req *r, int sleeping)
{
	struct http_conn *hc = r->conn;

	if (sleeping) {
		hc->lent_work = hc->holds_work;
		work_leave(hc);
		return 0;
	}
	if (hc->lent_work) {
		hc->lent_work = 0;
		return work_enter(hc, 0);
	}
	return 0;
}

static int req_client_gone(const struct nprof_req *r)
{
	const struct http_conn *hc = r->conn;
	const union MHD_ConnectionInfo *ci;
	struct pollfd p;

	if (stopping)
		return 1;
	ci = MHD_get_connection_info(hc->mhd, MHD_CONNECTION_INFO_CONNECTION_FD);
	if (ci == NULL)
		return 0;
	p.fd = ci->connect_fd;
	p.events = POLLIN | POLLRDHUP;
	p.revents = 0;
	if (poll(&p, 1, 0) <= 0)
		return 0;
	/* POLLIN alone is a pipelined next request, not a hang-up. */
	return (p.revents & (POLLRDHUP | POLLHUP | POLLERR | POLLNVAL)) != 0;
}

/* The query string again, less pid=, for a proxied request. */
struct query {
	char s[2048];
	int overflow;
};

static void query_put(struct query *q, const char *v, int encode)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t n = strlen(q->s);
	for (; v != NULL && *v; v++) {
		unsigned char ch = (unsigned char)*v;
		int plain = !encode || (ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'z') ||
			    (ch >= 'A' && ch <= 'Z') || strchr("-_.~", ch) != NULL;
		if (n + 4 >= sizeof(q->s)) {
			q->overflow = 1;
			return;
		}
		if (plain) {
			q->s[n++] = (char)ch;
		} else {
			q->s[n++] = '%';
			q->s[n++] = hex[ch >> 4];
			q->s[n++] = hex[ch & 15];
		}
	}
	q->s[n] = '\0';
}

static enum MHD_Result add_query_arg(void *cls, enum MHD_ValueKind kind, const char *key,
				     const char *value)
{
	struct query *q = cls;

	(void)kind;
	if (strcmp(key, "pid") == 0)
		return MHD_YES;
	if (q->s[0] != '\0')
		query_put(q, "&", 0);
	query_put(q, key, 1);
	if (value != NULL) {
		query_put(q, "=", 0);
		query_put(q, value, 1);
	}
	return MHD_YES;
}

/*
 * Takes a worker place, waiting in the queue (when `queue`: bounded by
 * HTTP_QUEUE; a place given up while sleeping is always waited for) at
 * most HTTP_QUEUE_WAIT_S and while the client is there. 0, or -1.
 */
static int work_enter(struct http_conn *hc, int queue)
{
	struct nprof_req probe;
	struct timespec until;
	int rc = 0;

	memset(&probe, 0, sizeof(probe));
	probe.conn = hc;
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += HTTP_QUEUE_WAIT_S;
	pthread_mutex_lock(&work_mu);
	if (work_busy >= HTTP_WORKERS && queue && work_waiting >= HTTP_QUEUE) {
		pthread_mutex_unlock(&work_mu);
		return -1;
	}
	work_waiting++;
	while (work_busy >= HTTP_WORKERS) {
		struct timespec step;

		clock_gettime(CLOCK_REALTIME, &step);
		step.tv_nsec += 100000000;
		if (step.tv_nsec >= 1000000000) {
			step.tv_sec++;
			step.tv_nsec -= 1000000000;
		}
		pthread_cond_timedwait(&work_cv, &work_mu, &step);
		if (work_busy < HTTP_WORKERS)
			break;
		if ((queue && (step.tv_sec > until.tv_sec ||
			       (step.tv_sec == until.tv_sec && step.tv_nsec >= until.tv_nsec))) ||
		    req_client_gone(&probe)) {
			rc = -1;
			break;
		}
	}
	work_waiting--;
	if (rc == 0) {
		work_busy++;
		hc->holds_work = 1;
	}
	pthread_mutex_unlock(&work_mu);
	return rc;
}

static void work_leave(struct http_conn *hc)
{
	if (!hc->holds_work)
		return;
	pthread_mutex_lock(&work_mu);
	work_busy--;
	hc->holds_work = 0;
	pthread_cond_signal(&work_cv);
	pthread_mutex_unlock(&work_mu);
}

/* Whether a request costs enough CPU to need a worker place: the index,
 * cmdline and the symbol probe are cheap; the CPU profile spends its
 * seconds asleep (and is one at a time, 409 for a second one). */
static int is_expensive(const struct http_conn *hc)
{
	const char *n;

	if (hc->route == NULL)
		return 0;
	n = hc->route->name;
	if (strcmp(n, "cmdline") == 0 || strcmp(n, "profile") == 0)
		return 0;
	if (strcmp(n, "symbol") == 0)
		return hc->body.len > 0;
	return 1;
}

/* Runs the route (or the index) and queues its reply. */
static enum MHD_Result serve(struct http_conn *hc)
{
	struct nprof_req req;
	struct nprof_reply rep;

	memset(&req, 0, sizeof(req));
	memset(&rep, 0, sizeof(rep));
	req.name = hc->name;
	req.debug = hc->debug;
	req.seconds = hc->seconds;
	req.body = hc->body.data;
	req.body_len = hc->body.len;
	req.query_only_get = !hc->is_post;
	req.arg = req_arg;
	req.client_gone = req_client_gone;
	req.pause = req_pause;
	req.conn = hc;
	rep.status = MHD_HTTP_OK;
	rep.content_type = TEXT_PLAIN;

	/* ?pid=N for a forked worker: its answer, through its socket. */
	const char *pid = MHD_lookup_connection_value(hc->mhd, MHD_GET_ARGUMENT_KIND, "pid");
	if (pid != NULL) {
		struct query q = {{0}, 0};
		MHD_get_connection_values(hc->mhd, MHD_GET_ARGUMENT_KIND, add_query_arg, &q);
		if (q.overflow)
			nprof__reply_error(&rep, MHD_HTTP_BAD_REQUEST, "nprof: query too long");
		if (q.overflow || nprof__follow_proxy(&req, pid, hc->url, q.s, &rep))
			return queue_reply(hc->mhd, &rep);
	}
	if (is_expensive(hc) && work_enter(hc, 1) < 0) {
		nprof__reply_error(&rep, MHD_HTTP_SERVICE_UNAVAILABLE,
				   "nprof: busy: %d profile requests queued or running; retry later",
				   HTTP_QUEUE + HTTP_WORKERS);
		return queue_reply(hc->mhd, &rep);
	}
	if (hc->route == NULL)
		nprof__routes_index(&req, &rep);
	else
		hc->route->handle(&req, &rep);
	work_leave(hc);
	return queue_reply(hc->mhd, &rep);
}

static enum MHD_Result reply_now(struct MHD_Connection *c, int status, const char *msg)
{
	struct nprof_reply rep;

	memset(&rep, 0, sizeof(rep));
	nprof__reply_error(&rep, status, "%s", msg);
	return queue_reply(c, &rep);
}

/*
 * libmicrohttpd's access handler. Called once when the headers are in
 * (*con_cls == NULL), then, for a POST, once per piece of body, and a
 * last time with *upload_size == 0, when the request is served. A refusal
 * is queued on the first call: libmicrohttpd then reads no body and
 * closes the connection. An admitted request is answered on the last
 * call, which keeps the connection alive for the next request. Its state
 * comes from the arena and is freed in on_completed().
 */
static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
				  const char *method, const char *version,
				  const char *upload, size_t *upload_size, void **con_cls)
{
	struct http_conn *hc = *con_cls;

	nprof__guard = 1; /* a connection thread is ours for good */

	if (hc == NULL) {
		struct http_conn first;
		struct nprof_reply rep;
		const char *cl;

		memset(&first, 0, sizeof(first));
		memset(&rep, 0, sizeof(rep));
		first.mhd = c;
		first.lsn = cls;
		if (nprof__http_admit_request(&first, url, method, version, &rep) < 0)
			return queue_reply(c, &rep);
		/* Refuse an announced oversized body before reading any of it. */
		cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
		if (cl != NULL && strtoull(cl, NULL, 10) > HTTP_MAX_BODY)
			return reply_now(c, MHD_HTTP_CONTENT_TOO_LARGE, BODY_TOO_LARGE);
		hc = nprof__arena_alloc(sizeof(*hc));
		if (hc == NULL) {
			rep.body.failed = 1;
			return queue_reply(c, &rep);
		}
		*hc = first;
		*con_cls = hc;
		return MHD_YES;
	}

	if (*upload_size != 0) {
		/* A chunked body has no length up front. libmicrohttpd 0.9.75
		 * cannot queue a reply while a body is still arriving, so past
		 * the limit the rest is read and dropped and the 413 goes out at
		 * the end; a client that goes on far beyond is cut off. */
		hc->seen += *upload_size;
		if (hc->seen > HTTP_MAX_BODY) {
			hc->too_big = 1;
			nprof__buf_free(&hc->body);
			memset(&hc->body, 0, sizeof(hc->body));
		} else {
			nprof__buf_append(&hc->body, upload, *upload_size);
		}
		*upload_size = 0;
		return hc->seen > HTTP_DROP_BODY ? MHD_NO : MHD_YES;
	}
	if (hc->too_big)
		return reply_now(c, MHD_HTTP_CONTENT_TOO_LARGE, BODY_TOO_LARGE);
	if (hc->body.failed) {
		struct nprof_reply rep;

		memset(&rep, 0, sizeof(rep));
		rep.body.failed = 1;
		return queue_reply(c, &rep);
	}
	return serve(hc);
}

/* Frees a POST's state once libmicrohttpd is done with the request. */
static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
			 enum MHD_RequestTerminationCode toe)
{
	struct http_conn *hc = *con_cls;

	(void)cls;
	(void)toe;
	nprof__gate_request_done(c);
	if (hc != NULL) {
		nprof__buf_free(&hc->body);
		nprof__arena_free(hc);
		*con_cls = NULL;
	}
}

/* ------------------------------------------------------------------ */
/* Daemons (the listening sockets themselves are opened in listen.c)     */
/* ------------------------------------------------------------------ */

/* Fills tcp_where from the bound address ("[::1]:6060" for IPv6). */
static void where_of(const struct listener *l)
{
	char host[INET6_ADDRSTRLEN];
	const struct sockaddr_storage *a = &l->addr;

	tcp_where[0] = '\0';
	if (a->ss_family == AF_INET) {
		const struct sockaddr_in *in = (const void *)a;
		if (inet_ntop(AF_INET, &in->sin_addr, host, sizeof(host)) != NULL)
			snprintf(tcp_where, sizeof(tcp_where), "%s:%u", host, ntohs(in->sin_port));
	} else if (a->ss_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const void *)a;
		if (inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof(host)) != NULL)
			snprintf(tcp_where, sizeof(tcp_where), "[%s]:%u", host, ntohs(in6->sin6_port));
	}
}

/* Starts a daemon on l->fd; on failure closes the socket. */
static int daemon_start(struct listener *l, const char *what)
{
	/* MHD_USE_POLL: the default select() refuses descriptors >= 1024,
	 * which a busy service easily hands us. MHD_USE_ITC: stop and
	 * MHD_add_connection wake the internal thread through an eventfd.
	 * MHD_USE_NO_LISTEN_SOCKET: the gate (http_gate.c) accepts, checks
	 * each request head and hands over only requests libmicrohttpd serves
	 * without an error page of its own. Its connection limit is far above
	 * the gate's budgets: the gate decides, libmicrohttpd never refuses
	 * (its refusal would be a reset). */
	unsigned int flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION |
			     MHD_USE_POLL | MHD_USE_ITC | MHD_USE_NO_LISTEN_SOCKET;

	l->daemon = MHD_start_daemon(
		flags, 0, NULL, NULL, on_request, l,
		MHD_OPTION_CONNECTION_LIMIT, HTTP_MAX_CONNECTIONS,
		MHD_OPTION_CONNECTION_TIMEOUT, HTTP_IDLE_TIMEOUT_S,
		MHD_OPTION_CONNECTION_MEMORY_LIMIT, HTTP_CONN_MEMORY,
		MHD_OPTION_NOTIFY_COMPLETED, on_completed, NULL,
		MHD_OPTION_NOTIFY_CONNECTION, nprof__gate_notify, nprof__gate_of(l),
		MHD_OPTION_END);
	if (l->daemon != NULL && nprof__gate_start(l) < 0) {
		MHD_stop_daemon(l->daemon);
		l->daemon = NULL;
	}
	if (l->daemon == NULL) {
		nprof__log("%s: the HTTP server did not start; listener off", what);
		close(l->fd);
		if (l->is_unix)
			unlink(l->path);
		l->fd = -1;
		l->path[0] = '\0';
		return -EIO;
	}
	return 0;
}

/* Still nprof's listening socket: open, and not marked as the program's
 * by fd.c (which it is once the program reopened that number). */
static int listener_intact(const struct listener *l)
{
	return l->fd >= 0 && fcntl(l->fd, F_GETFD) >= 0 &&
	       !(nprof__fd_known_sigsafe(l->fd) && !nprof__fd_is_internal_sigsafe(l->fd));
}

/* The old server's parts: forgotten, never stopped or closed. The TCP
 * address is kept, to bind it again. */
static void listener_abandon(struct listener *l)
{
	nprof__gate_abandon(l);
	l->daemon = NULL;
	l->fd = -1;
}

static void listener_stop(struct listener *l)
{
	if (nprof__fd_own_lost() || (l->fd >= 0 && !listener_intact(l))) {
		/* The program closed our descriptors behind libc's back
		 * (record/fd_own.c): stopping would make libmicrohttpd write to
		 * its eventfd - now maybe the program's file - or abort, and
		 * closing would close the program's. Abandon everything; at
		 * stop there is nothing to restart. */
		nprof__fd_own_on_lost(NULL);
		nprof__fd_own_mark_lost();
		listener_abandon(l);
	} else {
		/* The gate first: no new connection reaches the daemon, whose
		 * stop then waits for the requests in progress. The listening
		 * socket was never the daemon's: we close it, exactly once. */
		nprof__gate_stop(l);
		if (l->daemon != NULL) {
			MHD_stop_daemon(l->daemon);
			l->daemon = NULL;
		}
	}
	if (l->fd >= 0)
		close(l->fd);
	l->fd = -1;
	if (l->is_unix && l->path[0] != '\0' && getpid() == nprof__owner_pid)
		unlink(l->path);
	l->path[0] = '\0';
}

/* Opens what is configured and starts serving it; under `lock` with
 * every signal blocked. `again`: after the program closed our descriptors
 * (the TCP listener rebinds the address it had). */
static int serve_listeners(int again)
{
	int rc = 0, r;

	stopping = 0;
	if (nprof__cfg.socket_path[0] != '\0') {
		r = nprof__listen_unix(&lsn_unix);
		if (r == 0)
			r = daemon_start(&lsn_unix, nprof__cfg.socket_path);
		if (r < 0)
			rc = r;
	}
	if (nprof__cfg.http[0] != '\0') {
		r = nprof__listen_tcp(&lsn_tcp, again);
		if (r == 0)
			where_of(&lsn_tcp);
		if (r == 0)
			r = daemon_start(&lsn_tcp, nprof__cfg.http);
		if (r < 0)
			tcp_where[0] = '\0';
		if (r < 0 && rc == 0)
			rc = r;
	}
	return rc;
}

/* ------------------------------------------------------------------ */
/* Serving again after the program closed our descriptors              */
/* ------------------------------------------------------------------ */

/*
 * The server's threads wake at least once a second (the gate's poll) and
 * then see the loss: they return or park for good, and drop their
 * references to the old sockets (a listening socket lives on while a poll
 * still holds it, and its file name would look served). Serving starts
 * again once they all had the time to.
 */
#define RESTART_DELAY_MS 1500

/* Numbers fd.c still marks as nprof's but which are closed now: the
 * program may get them from a call no hook sees, and must then be able
 * to close them. */
static void forget_closed_own(void)
{
	unsigned lo = 0;
	int fd;

	while ((fd = nprof__fd_next_internal_sigsafe(lo, ~0U)) >= 0) {
		if (fcntl(fd, F_GETFD) < 0)
			nprof__fd_forget_sigsafe(fd);
		lo = (unsigned)fd + 1;
		if (lo == 0)
			break;
	}
}

static void *restart_main(void *arg)
{
	struct timespec ts = { RESTART_DELAY_MS / 1000, (RESTART_DELAY_MS % 1000) * 1000000L };
	sigset_t old;
	int rc;

	(void)arg;
	nprof__guard = 1;
	nprof__block_signals(&old);
	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
	pthread_mutex_lock(&lock);
	/* Stopped meanwhile, or started afresh (nprof_stop, nprof_start):
	 * nothing to restart. */
	if (!started || stopping || !nprof__fd_own_lost()) {
		pthread_mutex_unlock(&lock);
		return NULL;
	}
	listener_abandon(&lsn_tcp);
	listener_abandon(&lsn_unix);
	tcp_where[0] = '\0';
	forget_closed_own();
	nprof__fd_own_restarted();
	rc = serve_listeners(1);
	pthread_mutex_unlock(&lock);
	if (rc == 0)
		nprof__log("serving again on new descriptors%s%s",
			   lsn_unix.fd >= 0 ? " (unix socket)" : "",
			   lsn_tcp.fd >= 0 ? " (TCP)" : "");
	else
		nprof__log("cannot serve again after the program closed nprof's descriptors "
			   "(%s); profiles keep recording and NPROF_OUT is still written",
			   strerror(-rc));
	return NULL;
}

/* record/fd_own.c: the loss was noticed, on one of our threads (which
 * then parks for good). The restart runs on a thread of its own. */
static void http_lost(void)
{
	pthread_t t;
	pthread_attr_t a;
	int guard = nprof__guard, rc;

	nprof__guard = 1;
	pthread_attr_init(&a);
	pthread_attr_setdetachstate(&a, PTHREAD_CREATE_DETACHED);
	rc = pthread_create(&t, &a, restart_main, NULL);
	pthread_attr_destroy(&a);
	nprof__guard = guard;
	if (rc != 0)
		nprof__log("cannot serve again after the program closed nprof's descriptors "
			   "(no thread: %s); profiles keep recording", strerror(rc));
}

/*
 * Opens the unix socket (unless cfg.socket_path is "") and the TCP
 * listener (when cfg.http is set) and starts serving them. Each problem
 * is logged in one line here and that listener stays off; the other one
 * still starts, so callers need not log again. Returns 0 when everything
 * configured is served, else the first error; -EALREADY when running.
 * Called by core.c from any thread but not concurrently with fork();
 * blocks every signal and raises the hook guard while starting so that
 * libmicrohttpd's threads inherit both.
 */
int nprof__http_start(void)
{
	sigset_t old;
	int saved_guard = nprof__guard;
	int rc;

	nprof__guard = 1;
	pthread_mutex_lock(&lock);
	if (started) {
		pthread_mutex_unlock(&lock);
		nprof__guard = saved_guard;
		return -EALREADY;
	}
	nprof__fd_own_on_lost(http_lost);
	nprof__fd_own_restarted(); /* a loss before a stop is over */
	nprof__block_signals(&old);
	memset(&lsn_tcp.addr, 0, sizeof(lsn_tcp.addr));
	rc = serve_listeners(0);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	started = 1;
	pthread_mutex_unlock(&lock);
	nprof__guard = saved_guard;
	return rc;
}

/*
 * Stops both daemons, waiting for requests in progress (long handlers see
 * client_gone() turn true and return early), closes the sockets and
 * removes the unix socket file - only in the process that created it.
 * Safe to call twice. Must not be called from a connection thread.
 */
void nprof__http_stop(void)
{
	int saved_guard = nprof__guard;

	nprof__guard = 1;
	pthread_mutex_lock(&lock);
	stopping = 1;
	tcp_where[0] = '\0';
	listener_stop(&lsn_tcp);
	listener_stop(&lsn_unix);
	started = 0;
	pthread_mutex_unlock(&lock);
	nprof__guard = saved_guard;
}

/*
 * In a forked child: the daemons' threads do not exist here, so their
 * structures are abandoned, never stopped (that would join threads that
 * are not there). The child closes its copies of the listening sockets so
 * it can never accept on them, unlinks nothing, and may start afresh.
 * Connection sockets inherited from the parent stay open until exec
 * (they are O_CLOEXEC) or exit. Takes no lock: another thread may have
 * held `lock` at the fork.
 */
void nprof__http_forget(void)
{
	struct listener *ls[2] = { &lsn_unix, &lsn_tcp };

	for (int i = 0; i < 2; i++) {
		nprof__gate_forget(ls[i]);
		if (ls[i]->fd >= 0)
			close(ls[i]->fd);
		ls[i]->daemon = NULL;
		ls[i]->fd = -1;
		ls[i]->path[0] = '\0';
	}
	started = 0;
	stopping = 0;
	tcp_where[0] = '\0';
	lock = (pthread_mutex_t)PTHREAD_MUTEX_INITIALIZER;
	work_mu = (pthread_mutex_t)PTHREAD_MUTEX_INITIALIZER;
	work_cv = (pthread_cond_t)PTHREAD_COND_INITIALIZER;
	work_busy = 0;
	work_waiting = 0;
}
