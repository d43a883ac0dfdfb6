/*
 * trace_waits.c - threads that each wait in one blocking call, for the
 * trace test: "w-read" in read(2) on a pipe, "w-poll" in poll(2),
 * "w-epoll" in epoll_wait(2), "w-sleep" in nanosleep(2), "w-accept" in
 * accept(2) on a loopback socket, "w-mutex" in pthread_mutex_lock on a
 * mutex main holds, and "w-spin" running. Every 200 ms main starts a
 * short-lived "w-short" thread (create and exit events). Prints "ready"
 * once all wait; runs until killed. A wait that returns early (EINTR)
 * makes the program print "EINTR in NAME" and exit 3.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static int pipefd[2];
static int lsock, ep;
static pthread_mutex_t held = PTHREAD_MUTEX_INITIALIZER;
static volatile unsigned long spins;

static void eintr(const char *what)
{
	printf("EINTR in %s\n", what);
	fflush(stdout);
	exit(3);
}

static void *do_read(void *a)
{
	char c;
	(void)a;
	if (read(pipefd[0], &c, 1) < 0 && errno == EINTR)
		eintr("read");
	return NULL;
}

static void *do_poll(void *a)
{
	struct pollfd p = { .fd = pipefd[0], .events = POLLIN };
	(void)a;
	if (poll(&p, 1, -1) < 0 && errno == EINTR)
		eintr("poll");
	return NULL;
}

static void *do_epoll(void *a)
{
	struct epoll_event ev;
	(void)a;
	if (epoll_wait(ep, &ev, 1, -1) < 0 && errno == EINTR)
		eintr("epoll_wait");
	return NULL;
}

static void *do_sleep(void *a)
{
	struct timespec ts = { 3600, 0 };
	(void)a;
	if (nanosleep(&ts, NULL) < 0 && errno == EINTR)
		eintr("nanosleep");
	return NULL;
}

static void *do_accept(void *a)
{
	(void)a;
	if (accept(lsock, NULL, NULL) < 0 && errno == EINTR)
		eintr("accept");
	return NULL;
}

static void *do_mutex(void *a)
{
	(void)a;
	pthread_mutex_lock(&held);
	pthread_mutex_unlock(&held);
	return NULL;
}

static void *do_spin(void *a)
{
	(void)a;
	for (;;)
		spins++;
	return NULL;
}

static void *do_short(void *a)
{
	struct timespec ts = { 0, 20000000 };
	(void)a;
	nanosleep(&ts, NULL);
	return NULL;
}

static void start(void *(*fn)(void *), const char *name)
{
	pthread_t t;
	if (pthread_create(&t, NULL, fn, NULL) != 0)
		exit(1);
	pthread_setname_np(t, name);
	pthread_detach(t);
}

int main(void)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	struct epoll_event ev = { .events = EPOLLIN };
	int other[2];

	if (pipe(pipefd) < 0 || pipe(other) < 0)
		return 1;
	lsock = socket(AF_INET, SOCK_STREAM, 0);
	if (lsock < 0 || bind(lsock, (struct sockaddr *)&sa, sizeof sa) < 0 || listen(lsock, 1) < 0)
		return 1;
	ep = epoll_create1(0);
	ev.data.fd = other[0];
	if (ep < 0 || epoll_ctl(ep, EPOLL_CTL_ADD, other[0], &ev) < 0)
		return 1;
	pthread_mutex_lock(&held);
	start(do_read, "w-read");
	start(do_poll, "w-poll");
	start(do_epoll, "w-epoll");
	start(do_sleep, "w-sleep");
	start(do_accept, "w-accept");
	start(do_mutex, "w-mutex");
	start(do_spin, "w-spin");
	printf("ready\n");
	fflush(stdout);
	for (;;) {
		struct timespec ts = { 0, 200000000 };
		start(do_short, "w-short");
		nanosleep(&ts, NULL);
	}
}
