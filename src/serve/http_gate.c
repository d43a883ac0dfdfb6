/*
 * http_gate.c - the accept loop in front of libmicrohttpd.
 *
 * Owns, per listener, one thread that accepts connections and holds each
 * until its whole request head has arrived (MSG_PEEK: nothing is taken
 * out of the socket), checks the head with nprof__head_check() and then
 * either hands the socket to the listener's daemon (MHD_add_connection)
 * or answers the one-line error itself and closes gently. This is what
 * libmicrohttpd cannot do for us:
 * - a deadline for the request head (GATE_HEAD_DEADLINE_MS from accept,
 *   however slowly the bytes trickle in: slowloris);
 * - new clients never starve: when GATE_PENDING connections are waiting
 *   for their heads, the oldest is dropped (408) to make room;
 * - budgets per listener and per client address for requests in
 *   progress, answered past the limit with a 503 line, never a reset
 *   (the error is written after the head was read, and the socket is
 *   drained before close so the kernel has no unread data to reset on);
 * - every error in nprof's format, never libmicrohttpd's HTML.
 * Each connection carries one request (responses say Connection: close),
 * so every request passes through here.
 *
 * Data: struct nprof_gate, one static instance per listener (no
 * allocation): the table of connections waiting for a head or draining
 * after an error, the count of connections in libmicrohttpd and a small
 * table of those per client address. `mu` guards the counts, which the
 * notifier (libmicrohttpd's connection threads) decrements; the
 * connection table belongs to the gate thread alone.
 *
 * Threads and signals: the gate thread is created while nprof__http_start
 * has every signal blocked and the hook guard raised; it raises the guard
 * itself too. Nothing here may be called from a signal handler.
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "arena.h"
#include "base.h"
#include "fd.h"
#include "http_int.h"

/* docs/internals/http.md says why these numbers. */
#define GATE_HEAD_DEADLINE_MS 5000   /* whole request head, from accept */
#define GATE_LINGER_MS 1000          /* draining after an error */
#define GATE_PENDING 64              /* connections waiting for a head */
#define GATE_DRAINING 64             /* connections draining after an error */
#define GATE_ACTIVE 64               /* requests in progress per listener */
#define GATE_PER_ADDRESS 32          /* of those, per TCP client address */
#define GATE_PEEK (NPROF_HEAD_MAX + NPROF_HEAD_MAX_CHUNKED + 1024)

enum { SLOT_FREE, SLOT_HEAD, SLOT_DRAIN };

struct gate_conn {
	int fd, state;
	int64_t deadline_ms;
	/* A partial head stays in the socket (we only peek), so poll would
	 * report it readable again at once: until recheck_ms the connection
	 * is watched for a hang-up only, then peeked again. */
	int64_t recheck_ms;
	size_t seen;                /* bytes seen at the last peek */
	struct sockaddr_storage addr;
	socklen_t alen;
};

struct gate_peer {
	unsigned char key[16];
	unsigned count;
};

struct nprof_gate {
	struct listener *l;
	pthread_t thread;
	int running;
	int gen;                          /* nprof__fd_own_gen() at start */
	/* Set by nprof__gate_stop before it shuts the listening socket down;
	 * that wakes the thread's poll (POLLHUP), so stopping needs no
	 * descriptor of its own. */
	atomic_int stop;
	/* accept() failing for want of descriptors or memory (EMFILE, ...)
	 * leaves the connection queued and the socket readable: the listening
	 * socket is not watched until then, rather than spinning. */
	int64_t accept_pause_ms;
	struct gate_conn conns[GATE_PENDING + GATE_DRAINING];
	pthread_mutex_t mu;
	unsigned active;                  /* connections libmicrohttpd holds */
	struct gate_peer peers[GATE_ACTIVE]; /* TCP: active per address */
	char peek[GATE_PEEK];
};

static struct nprof_gate gates[2] = {
	{ .mu = PTHREAD_MUTEX_INITIALIZER },
	{ .mu = PTHREAD_MUTEX_INITIALIZER },
};

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static const char *status_text(int status)
{
	switch (status) {
	case 400: return "Bad Request";
	case 405: return "Method Not Allowed";
	case 408: return "Request Timeout";
	case 413: return "Content Too Large";
	case 414: return "URI Too Long";
	case 417: return "Expectation Failed";
	case 431: return "Request Header Fields Too Large";
	case 501: return "Not Implemented";
	case 503: return "Service Unavailable";
	case 505: return "HTTP Version Not Supported";
	default: return "Error";
	}
}

void nprof__gate_send_error(int fd, int status, const char *reason, int head_only)
{
	char out[1024];
	size_t blen = strlen(reason) + 1;
	int n = snprintf(out, sizeof(out),
			 "HTTP/1.1 %d %s\r\n"
			 "Content-Type: text/plain; charset=utf-8\r\n"
			 "X-Content-Type-Options: nosniff\r\n"
			 "X-Go-Pprof: 1\r\n"
			 "%s%s"
			 "Content-Length: %zu\r\n"
			 "Connection: close\r\n\r\n%s%s",
			 status, status_text(status),
			 status == 405 ? "Allow: GET, HEAD, POST\r\n" : "",
			 status == 503 ? "Retry-After: 1\r\n" : "",
			 blen, head_only ? "" : reason, head_only ? "" : "\n");

	if (n > 0 && (size_t)n < sizeof(out)) {
		/* Small enough for any socket buffer; never blocks the gate. */
		ssize_t w = send(fd, out, (size_t)n, MSG_NOSIGNAL | MSG_DONTWAIT);
		(void)w;
	}
}

/* The per-address key: the IP for TCP, nothing for the unix socket. */
static int peer_key(const struct sockaddr_storage *ss, unsigned char key[16])
{
	memset(key, 0, 16);
	if (ss->ss_family == AF_INET) {
		memcpy(key, &((const struct sockaddr_in *)ss)->sin_addr, 4);
		return 1;
	}
	if (ss->ss_family == AF_INET6) {
		memcpy(key, &((const struct sockaddr_in6 *)ss)->sin6_addr, 16);
		return 1;
	}
	return 0;
}

/* Under g->mu: the peer entry of `key`, made when `make`; NULL if none. */
static struct gate_peer *peer_find(struct nprof_gate *g, const unsigned char key[16], int make)
{
	struct gate_peer *free_slot = NULL;

	for (int i = 0; i < GATE_ACTIVE; i++) {
		if (g->peers[i].count > 0 && memcmp(g->peers[i].key, key, 16) == 0)
			return &g->peers[i];
		if (g->peers[i].count == 0 && free_slot == NULL)
			free_slot = &g->peers[i];
	}
	if (make && free_slot != NULL)
		memcpy(free_slot->key, key, 16);
	return make ? free_slot : NULL;
}

/*
 * Takes a place for a request in progress: 0, or -1 when the listener or
 * the client's address is at its limit.
 */
static int admit_active(struct nprof_gate *g, const struct gate_conn *c)
{
	unsigned char key[16];
	int keyed = peer_key(&c->addr, key);
	struct gate_peer *p = NULL;
	int rc = -1;

	pthread_mutex_lock(&g->mu);
	if (g->active < GATE_ACTIVE) {
		if (keyed)
			p = peer_find(g, key, 1);
		if (!keyed || (p != NULL && p->count < GATE_PER_ADDRESS)) {
			g->active++;
			if (p != NULL)
				p->count++;
			rc = 0;
		}
	}
	pthread_mutex_unlock(&g->mu);
	return rc;
}

static void release_active(struct nprof_gate *g, const struct sockaddr *sa)
{
	struct sockaddr_storage ss;
	unsigned char key[16];
	struct gate_peer *p;

	memset(&ss, 0, sizeof(ss));
	if (sa != NULL)
		memcpy(&ss, sa, sa->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6) :
				 sa->sa_family == AF_INET ? sizeof(struct sockaddr_in) :
				 sizeof(sa_family_t));
	pthread_mutex_lock(&g->mu);
	if (g->active > 0)
		g->active--;
	if (peer_key(&ss, key) && (p = peer_find(g, key, 0)) != NULL)
		p->count--;
	pthread_mutex_unlock(&g->mu);
}

/*
 * A connection handed to libmicrohttpd is counted out once: when its
 * request is complete (nprof__gate_request_done, from the completion
 * callback, right after the response is sent) or, for a connection that
 * never got that far, when libmicrohttpd closes it. libmicrohttpd calls
 * the close notifier only when its internal thread cleans the connection
 * up, which can lag behind by a while under load: counting out there
 * alone made the budget refuse clients that were already served.
 */
struct gate_ticket {
	struct nprof_gate *g;
	struct sockaddr_storage addr;
	int released;
};

static void ticket_release(struct gate_ticket *t)
{
	if (t != NULL && !t->released) {
		t->released = 1;
		release_active(t->g, (struct sockaddr *)&t->addr);
	}
}

void nprof__gate_notify(void *cls, struct MHD_Connection *c, void **socket_context,
			enum MHD_ConnectionNotificationCode toe)
{
	struct nprof_gate *g = cls;
	struct gate_ticket *t = *socket_context;
	const union MHD_ConnectionInfo *ci;

	if (g == NULL)
		return;
	if (toe == MHD_CONNECTION_NOTIFY_STARTED) {
		ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
		t = nprof__arena_alloc(sizeof(*t));
		if (t != NULL) {
			memset(t, 0, sizeof(*t));
			t->g = g;
			if (ci != NULL && ci->client_addr != NULL)
				memcpy(&t->addr, ci->client_addr,
				       ci->client_addr->sa_family == AF_INET6 ?
				       sizeof(struct sockaddr_in6) :
				       ci->client_addr->sa_family == AF_INET ?
				       sizeof(struct sockaddr_in) : sizeof(sa_family_t));
		}
		*socket_context = t;
		return;
	}
	if (toe != MHD_CONNECTION_NOTIFY_CLOSED)
		return;
	if (t == NULL) {
		ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
		release_active(g, ci != NULL ? ci->client_addr : NULL);
		return;
	}
	ticket_release(t);
	nprof__arena_free(t);
	*socket_context = NULL;
}

void nprof__gate_request_done(struct MHD_Connection *c)
{
	const union MHD_ConnectionInfo *ci =
		MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);

	if (ci != NULL)
		ticket_release(ci->socket_context);
}

void *nprof__gate_of(struct listener *l)
{
	return &gates[l->is_unix ? 0 : 1];
}

static void conn_close(struct gate_conn *c)
{
	close(c->fd);
	c->fd = -1;
	c->state = SLOT_FREE;
}

/* Answers an error and keeps reading (and dropping) what the client
 * sends for a moment, so closing never resets the connection under the
 * answer; with no draining slot left, closes at once. */
static void conn_refuse(struct nprof_gate *g, struct gate_conn *c, int status,
			const char *reason, int head_only)
{
	int draining = 0;

	nprof__gate_send_error(c->fd, status, reason, head_only);
	shutdown(c->fd, SHUT_WR);
	for (int i = 0; i < GATE_PENDING + GATE_DRAINING; i++)
		draining += g->conns[i].state == SLOT_DRAIN;
	if (draining >= GATE_DRAINING) {
		conn_close(c);
		return;
	}
	c->state = SLOT_DRAIN;
	c->deadline_ms = now_ms() + GATE_LINGER_MS;
}

/* New data (or a hang-up: `hup`) on a connection waiting for its head. */
static void conn_readable(struct nprof_gate *g, struct gate_conn *c, int hup)
{
	struct nprof_head h;
	ssize_t n = recv(c->fd, g->peek, sizeof(g->peek), MSG_PEEK | MSG_DONTWAIT);

	c->recheck_ms = 0;
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		conn_close(c); /* hung up before asking anything */
		return;
	}
	if (!nprof__head_check(g->peek, (size_t)n, (size_t)n >= sizeof(g->peek), &h)) {
		if (hup) {
			conn_refuse(g, c, 400, "nprof: connection closed before the request was "
					    "complete", h.method == NPROF_HEAD_HEAD);
			return;
		}
		/* Incomplete: look again shortly (sooner while bytes keep coming),
		 * always under the head deadline. */
		c->recheck_ms = now_ms() + ((size_t)n == c->seen ? 50 : 10);
		c->seen = (size_t)n;
		return;
	}
	if (h.status != 0) {
		conn_refuse(g, c, h.status, h.reason, h.method == NPROF_HEAD_HEAD);
		return;
	}
	if (admit_active(g, c) < 0) {
		conn_refuse(g, c, 503,
			    "nprof: too many requests in progress (limit 64, 32 per client "
			    "address); retry later", h.method == NPROF_HEAD_HEAD);
		return;
	}
	/* libmicrohttpd takes the socket (and closes it, even on failure). */
	if (MHD_add_connection(g->l->daemon, c->fd, (struct sockaddr *)&c->addr, c->alen) !=
	    MHD_YES)
		release_active(g, (struct sockaddr *)&c->addr);
	c->fd = -1;
	c->state = SLOT_FREE;
}

/* A drained connection: read and drop, close at EOF. */
static void conn_drain(struct gate_conn *c)
{
	char junk[4096];
	ssize_t n = recv(c->fd, junk, sizeof(junk), MSG_DONTWAIT);

	if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR))
		conn_close(c);
}

/* Accepts what is waiting; makes room by dropping the oldest head. */
static void accept_all(struct nprof_gate *g)
{
	for (int budget = 0; budget < 64; budget++) {
		struct gate_conn *slot = NULL, *oldest = NULL;
		struct sockaddr_storage ss;
		socklen_t len = sizeof(ss);
		int waiting = 0;
		int fd = accept4(g->l->fd, (struct sockaddr *)&ss, &len,
				 SOCK_CLOEXEC | SOCK_NONBLOCK);

		if (fd < 0) {
			if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM)
				g->accept_pause_ms = now_ms() + 100;
			return;
		}
		for (int i = 0; i < GATE_PENDING + GATE_DRAINING; i++) {
			struct gate_conn *c = &g->conns[i];

			if (c->state == SLOT_FREE && slot == NULL)
				slot = c;
			if (c->state == SLOT_HEAD) {
				waiting++;
				if (oldest == NULL || c->deadline_ms < oldest->deadline_ms)
					oldest = c;
			}
		}
		if (waiting >= GATE_PENDING && oldest != NULL) {
			conn_refuse(g, oldest, 408, "nprof: request head too slow; dropped to make "
					    "room for other clients", 0);
			if (oldest->state == SLOT_FREE && slot == NULL)
				slot = oldest;
		}
		if (slot == NULL) {
			close(fd);
			continue;
		}
		slot->fd = fd;
		slot->state = SLOT_HEAD;
		slot->deadline_ms = now_ms() + GATE_HEAD_DEADLINE_MS;
		slot->recheck_ms = 0;
		slot->seen = 0;
		slot->addr = ss;
		slot->alen = len;
	}
}

static void *gate_main(void *arg)
{
	struct nprof_gate *g = arg;
	struct pollfd pfd[1 + GATE_PENDING + GATE_DRAINING];
	int idx[1 + GATE_PENDING + GATE_DRAINING];

	nprof__guard = 1;
	while (!atomic_load(&g->stop)) {
		int64_t now = now_ms(), next = now + 1000;
		int n = 0;

		/* The program closed our descriptors behind libc's back
		 * (record/fd_own.c): none of the numbers below is ours any more,
		 * and a new server may be starting. Touch nothing; return. The
		 * poll below wakes at least once a second, so this is seen
		 * before the new server starts (http.c waits longer than that). */
		if (nprof__fd_own_lost() || nprof__fd_own_gen() != g->gen)
			return NULL;

		/* POLLHUP (always reported) is also how stop wakes us. */
		pfd[n].fd = g->l->fd;
		pfd[n].events = now >= g->accept_pause_ms ? POLLIN : 0;
		if (now < g->accept_pause_ms && g->accept_pause_ms < next)
			next = g->accept_pause_ms;
		idx[n++] = -1;
		for (int i = 0; i < GATE_PENDING + GATE_DRAINING; i++) {
			struct gate_conn *c = &g->conns[i];

			if (c->state == SLOT_FREE)
				continue;
			if (now >= c->deadline_ms) {
				if (c->state == SLOT_HEAD)
					conn_refuse(g, c, 408, "nprof: request head not received "
							    "within 5 s", 0 /* never a HEAD: not read */);
				else
					conn_close(c);
				if (c->state == SLOT_FREE)
					continue;
			}
			if (c->state == SLOT_HEAD && c->recheck_ms != 0 && now >= c->recheck_ms) {
				conn_readable(g, c, 0);
				if (c->state != SLOT_HEAD)
					continue;
			}
			if (c->deadline_ms < next)
				next = c->deadline_ms;
			if (c->recheck_ms != 0 && c->recheck_ms < next)
				next = c->recheck_ms;
			pfd[n].fd = c->fd;
			pfd[n].events = c->recheck_ms != 0 ? POLLRDHUP : POLLIN | POLLRDHUP;
			idx[n++] = i;
		}
		int r = poll(pfd, (nfds_t)n, (int)(next > now ? next - now : 0));

		if (r < 0 && errno != EINTR)
			break;
		if (atomic_load(&g->stop) || nprof__fd_own_lost())
			break;
		if (r <= 0)
			continue;
		for (int k = 1; k < n; k++) {
			struct gate_conn *c = &g->conns[idx[k]];

			if (!pfd[k].revents || c->state == SLOT_FREE)
				continue;
			if (c->state == SLOT_HEAD)
				conn_readable(g, c, (pfd[k].revents & (POLLRDHUP | POLLHUP | POLLERR)) != 0);
			else
				conn_drain(c);
		}
		if (pfd[0].revents & POLLIN)
			accept_all(g);
		else if (pfd[0].revents & (POLLERR | POLLHUP | POLLNVAL))
			break; /* the listening socket is gone: serve no more */
	}
	return NULL;
}

int nprof__gate_start(struct listener *l)
{
	struct nprof_gate *g = nprof__gate_of(l);
	int rc;

	g->l = l;
	g->active = 0;
	g->accept_pause_ms = 0;
	memset(g->peers, 0, sizeof(g->peers));
	for (int i = 0; i < GATE_PENDING + GATE_DRAINING; i++) {
		g->conns[i].fd = -1;
		g->conns[i].state = SLOT_FREE;
	}
	/* The listening socket is non-blocking: accept4 in a loop until
	 * EAGAIN, and a connection reset before accept never blocks us. */
	{
		int fl = fcntl(l->fd, F_GETFL);

		if (fl >= 0)
			fcntl(l->fd, F_SETFL, fl | O_NONBLOCK);
	}
	atomic_store(&g->stop, 0);
	g->gen = nprof__fd_own_gen();
	rc = pthread_create(&g->thread, NULL, gate_main, g);
	if (rc != 0) {
		nprof__log("HTTP: cannot start the accept thread: %s; listener off",
			   strerror(rc));
		return -rc;
	}
	g->running = 1;
	l->gate = g;
	return 0;
}

static void gate_close_all(struct nprof_gate *g)
{
	for (int i = 0; i < GATE_PENDING + GATE_DRAINING; i++)
		if (g->conns[i].state != SLOT_FREE)
			conn_close(&g->conns[i]);
	g->running = 0;
}

void nprof__gate_stop(struct listener *l)
{
	struct nprof_gate *g = l->gate;

	if (g == NULL || !g->running)
		return;
	/* Shutting a listening socket down wakes every poll on it with
	 * POLLHUP (Linux, TCP and unix alike) and queues no new connection;
	 * the gate sees `stop` and returns. The socket itself is closed by
	 * the caller. Connections still queued in the backlog are reset, as
	 * closing would. */
	atomic_store(&g->stop, 1);
	if (shutdown(l->fd, SHUT_RDWR) < 0)
		nprof__log("HTTP: cannot wake the accept thread: %s", strerror(errno));
	pthread_join(g->thread, NULL);
	gate_close_all(g);
	l->gate = NULL;
}

void nprof__gate_forget(struct listener *l)
{
	struct nprof_gate *g = l->gate;

	if (g == NULL)
		return;
	gate_close_all(g);
	g->mu = (pthread_mutex_t)PTHREAD_MUTEX_INITIALIZER;
	g->active = 0;
	l->gate = NULL;
}

void nprof__gate_abandon(struct listener *l)
{
	struct nprof_gate *g = l->gate;

	if (g == NULL)
		return;
	/* Its thread has returned or is parked in poll for good (it saw the
	 * loss); it is never joined. The descriptors in its table are not
	 * ours any more: forgotten, never closed. */
	if (g->running)
		pthread_detach(g->thread);
	for (int i = 0; i < GATE_PENDING + GATE_DRAINING; i++) {
		g->conns[i].fd = -1;
		g->conns[i].state = SLOT_FREE;
	}
	g->running = 0;
	l->gate = NULL;
}
