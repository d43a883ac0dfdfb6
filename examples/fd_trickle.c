/*
 * fd_trickle.c - a descriptor leak near nprof's threshold (3 a second)
 * beside noise that grows for a while: on a cache miss (one request in
 * ten, at 30 requests a second) the handler opens the backing file to
 * read it and, on that path, never closes it (the line marked LEAK).
 * Around it, what must not be named:
 *   - a connection pool that opens 24 connections one by one over its
 *     first seconds, then keeps them;
 *   - log files rotated every 4 s (closed, reopened: the count holds);
 *   - bursts of requests every 3 s, each holding a pipe for the burst.
 *
 *   fd_trickle [SECONDS]   (default 600; at most 3000 leaked)
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static int pool[24][2];
static int npool;
static int logfd = -1;

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static __attribute__((noinline)) void pool_add(void)
{
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pool[npool]) == 0) /* NOISE: pool fills, then holds */
		npool++;
}

static __attribute__((noinline)) void log_rotate(void)
{
	if (logfd >= 0)
		close(logfd);
	logfd = open("/dev/null", O_WRONLY | O_CLOEXEC);   /* NOISE: rotated log */
}

static __attribute__((noinline)) int read_backing(long n)
{
	int fd = open("/dev/zero", O_RDONLY | O_CLOEXEC);   /* LEAK: opened on a miss, never closed */
	char b[16];
	if (fd < 0 || read(fd, b, sizeof b) < 0)
		return -1;
	return (int)n & 1;
}

static __attribute__((noinline)) void burst(void)
{
	int p[16][2];
	for (int i = 0; i < 16; i++)
		if (pipe2(p[i], O_CLOEXEC) != 0)        /* NOISE: burst pipes, closed after it */
			p[i][0] = p[i][1] = -1;
	usleep(300 * 1000);
	for (int i = 0; i < 16; i++)
		if (p[i][0] >= 0)
			close(p[i][0]), close(p[i][1]);
}

int main(int argc, char **argv)
{
	int seconds = argc > 1 ? atoi(argv[1]) : 600;
	if (seconds <= 0) {
		fprintf(stderr, "usage: fd_trickle [SECONDS]\n");
		return 2;
	}
	printf("fd_trickle: pid %d\n", (int)getpid());
	fflush(stdout);
	double t0 = now_s(), next_burst = 3, next_rotate = 0;
	long leaked = 0;
	for (long n = 0;; n++) {
		double t = now_s() - t0;
		if (t > seconds)
			break;
		if (npool < 24 && t > npool * 0.25)
			pool_add();
		if (t >= next_rotate) {
			log_rotate();
			next_rotate += 4;
		}
		if (t >= next_burst) {
			burst();
			next_burst += 3;
		}
		if (n % 10 == 0 && leaked < 3000 && read_backing(n) >= 0)
			leaked++;
		double due = (double)(n + 1) / 30 - (now_s() - t0);
		if (due > 0)
			usleep((useconds_t)(due * 1e6));
	}
	return 0;
}
