/*
 * client_per_request.c - docs/incidents.md 3, "a client per request": a
 * service that calls a cloud API builds a new RPC client in every request
 * handler instead of sharing one. Each client opens a TCP connection and
 * starts a keepalive thread blocked in poll(); nothing ever closes them.
 * Sockets, threads and the clients' write buffers grow together.
 *
 * The "cloud API" is a loopback server in a forked child process (so its
 * accepted sockets are not this process's), which accepts and holds every
 * connection. The noise a real service has and that is NOT a leak: a
 * stable worker pool, a routing table built once, a log file opened once,
 * and a per-request scratch buffer freed every time.
 *
 *   client_per_request [REQUESTS_PER_SECOND [MAX_REQUESTS]]   (50, 800)
 *
 * Prints "api 127.0.0.1:PORT" once, then serves until killed.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

struct client {
	int fd;
	char *wbuf;             /* newBufWriter-style buffer */
	pthread_t keepalive;
};

static struct sockaddr_in api;
static pthread_attr_t small_stack;

/* The cloud API: accepts and keeps every connection, never answers. */
static void run_api_server(int lsn)
{
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	for (;;) {
		int c = accept(lsn, NULL, NULL);
		if (c < 0)
			usleep(10000);
	}
}

static void *keepalive_loop(void *arg)
{
	struct client *c = arg;
	struct pollfd p = { .fd = c->fd, .events = POLLIN };
	for (;;) {
		/* Wait for the server's ping (which never comes). */
		if (poll(&p, 1, -1) > 0 && (p.revents & (POLLHUP | POLLERR)))
			return NULL;
	}
}

/* The bug: called once per request; nothing ever closes the client. */
static __attribute__((noinline)) struct client *client_new(void)
{
	struct client *c = calloc(1, sizeof *c);
	c->wbuf = malloc(4096);
	c->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (c->fd < 0 || connect(c->fd, (struct sockaddr *)&api, sizeof api) != 0) {
		perror("client_new: connect");
		exit(1);
	}
	pthread_create(&c->keepalive, &small_stack, keepalive_loop, c);
	return c;
}

/* ---- the noise: stable, not leaks ---- */

static pthread_mutex_t pool_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t pool_cond = PTHREAD_COND_INITIALIZER;
static int pool_work;
static int pool_pipe[2];
static char *routes;            /* built once */
static FILE *access_log;        /* opened once */

static void *pool_worker(void *arg)
{
	(void)arg;
	pthread_mutex_lock(&pool_lock);
	for (;;) {
		while (pool_work == 0)
			pthread_cond_wait(&pool_cond, &pool_lock);
		pool_work--;
	}
	return NULL;
}

static void start_pool(void)
{
	if (pipe(pool_pipe) != 0) {
		perror("pipe");
		exit(1);
	}
	for (int i = 0; i < 4; i++) {
		pthread_t t;
		pthread_create(&t, &small_stack, pool_worker, NULL); /* NOISE: stable pool */
	}
	routes = malloc(1 << 20);               /* NOISE: table built once */
	memset(routes, 1, 1 << 20);
	access_log = fopen("/dev/null", "w");   /* NOISE: log opened once */
}

static __attribute__((noinline)) void handle_request(int n)
{
	char *scratch = malloc(16384);          /* NOISE: per-request scratch, freed */
	memset(scratch, n & 0xff, 16384);
	struct client *c = client_new();        /* LEAK: a new client every request, never closed */
	fprintf(access_log, "request %d via client fd %d %d\n", n, c->fd, scratch[n % 16384]);
	free(scratch);
	pthread_mutex_lock(&pool_lock);
	pool_work++;
	pthread_cond_signal(&pool_cond);
	pthread_mutex_unlock(&pool_lock);
}

int main(int argc, char **argv)
{
	int rate = argc > 1 ? atoi(argv[1]) : 50;
	int max = argc > 2 ? atoi(argv[2]) : 800;
	if (rate <= 0 || max < 0) {
		fprintf(stderr, "usage: client_per_request [REQUESTS_PER_SECOND [MAX_REQUESTS]]\n");
		return 2;
	}
	pthread_attr_init(&small_stack);
	pthread_attr_setstacksize(&small_stack, 64 * 1024);

	int lsn = socket(AF_INET, SOCK_STREAM, 0);
	api.sin_family = AF_INET;
	api.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	socklen_t len = sizeof api;
	if (lsn < 0 || bind(lsn, (struct sockaddr *)&api, sizeof api) != 0 ||
	    listen(lsn, 1024) != 0 || getsockname(lsn, (struct sockaddr *)&api, &len) != 0) {
		perror("api listener");
		return 1;
	}
	pid_t server = fork();
	if (server < 0) {
		perror("fork");
		return 1;
	}
	if (server == 0)
		run_api_server(lsn);
	close(lsn);
	printf("api 127.0.0.1:%d\n", ntohs(api.sin_port));
	fflush(stdout);

	start_pool();
	struct timespec gap = { 0, 1000000000L / rate };
	for (int n = 0;; n++) {
		if (n < max)
			handle_request(n);
		nanosleep(&gap, NULL);
	}
}
