/*
 * eintr_victim.c - threads blocked in calls that fail with EINTR when a
 * handled signal arrives, even with SA_RESTART (poll, epoll_wait,
 * nanosleep) or without it (read, accept). Each thread treats EINTR as
 * fatal, as much real code does: it prints which call saw it and exits 3.
 * One more thread burns CPU so that a CPU profile has something to sample.
 * Prints "ready" once every thread is about to block.
 */
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static int pipefd[2];
static int listenfd, epfd;
static atomic_int started;

__attribute__((noreturn)) static void died(const char *call)
{
	fprintf(stderr, "EINTR in %s\n", call);
	fflush(stderr);
	_exit(3);
}

static void *t_read(void *a)
{
	(void)a;
	char c;
	started++;
	for (;;) {
		ssize_t n = read(pipefd[0], &c, 1);
		if (n < 0 && errno == EINTR)
			died("read");
		if (n == 0)
			return NULL;
	}
	return NULL;
}

static void *t_poll(void *a)
{
	(void)a;
	struct pollfd p = {.fd = pipefd[0], .events = 0};
	started++;
	for (;;)
		if (poll(&p, 1, -1) < 0 && errno == EINTR)
			died("poll");
	return NULL;
}

static void *t_epoll(void *a)
{
	(void)a;
	struct epoll_event ev;
	started++;
	for (;;)
		if (epoll_wait(epfd, &ev, 1, -1) < 0 && errno == EINTR)
			died("epoll_wait");
	return NULL;
}

static void *t_sleep(void *a)
{
	(void)a;
	started++;
	for (;;) {
		struct timespec ts = {3600, 0};
		if (nanosleep(&ts, NULL) < 0 && errno == EINTR)
			died("nanosleep");
	}
	return NULL;
}

static void *t_accept(void *a)
{
	(void)a;
	started++;
	for (;;)
		if (accept(listenfd, NULL, NULL) < 0 && errno == EINTR)
			died("accept");
	return NULL;
}

static volatile uint64_t sink;

static void *t_spin(void *a)
{
	(void)a;
	started++;
	for (;;)
		for (int i = 0; i < 1000000; i++)
			sink += (uint64_t)i * 7;
	return NULL;
}

int main(void)
{
	if (pipe(pipefd) != 0)
		return 1;
	epfd = epoll_create1(0);
	listenfd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	if (bind(listenfd, (struct sockaddr *)&sa, sizeof sa) != 0 || listen(listenfd, 1) != 0)
		return 1;
	void *(*fns[])(void *) = {t_read, t_poll, t_epoll, t_sleep, t_accept, t_spin};
	int n = sizeof fns / sizeof fns[0];
	for (int i = 0; i < n; i++) {
		pthread_t t;
		pthread_create(&t, NULL, fns[i], NULL);
	}
	while (started < n)
		usleep(1000);
	printf("ready\n");
	fflush(stdout);
	for (;;)
		pause();
}
