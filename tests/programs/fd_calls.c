/*
 * fd_calls.c - exercises every descriptor-creating and -closing call nprof
 * interposes, in phases. After each phase it prints "ready N OPEN" (OPEN:
 * descriptors it created and still holds) and waits for SIGUSR1, so that
 * tests/integration/fd_calls.sh can compare the fd profile with
 * /proc/PID/fd at that moment.
 *
 *   fd_calls DIR     (DIR: a scratch directory for the files it creates)
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/close_range.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <sys/mman.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/timerfd.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

/* The fortified entry points; programs built with _FORTIFY_SOURCE call
 * them through glibc's inline open(). */
int __open_2(const char *path, int flags);
int __open64_2(const char *path, int flags);
int __openat_2(int dirfd, const char *path, int flags);
int __openat64_2(int dirfd, const char *path, int flags);

static int held;        /* descriptors we created and hold */
static const char *dir;

static void die(const char *what)
{
	fprintf(stderr, "fd_calls: %s: %s\n", what, strerror(errno));
	exit(1);
}

static int chk(int fd, const char *what)
{
	if (fd < 0)
		die(what);
	held++;
	return fd;
}

static void ready(int phase)
{
	sigset_t set;
	int sig;
	printf("ready %d %d\n", phase, held);
	fflush(stdout);
	sigemptyset(&set);
	sigaddset(&set, SIGUSR1);
	sigwait(&set, &sig);
}

static char *path(const char *name)
{
	static char buf[8][512];
	static int i;
	char *p = buf[i++ % 8];
	snprintf(p, 512, "%s/%s", dir, name);
	return p;
}

static void closed(int fd, const char *what)
{
	if (close(fd) != 0)
		die(what);
	held--;
}

/* Sends `n` descriptors over `s` in one SCM_RIGHTS message. */
static void send_fds(int s, const int *fds, int n)
{
	char byte = 'x';
	struct iovec iov = { &byte, 1 };
	union { char buf[CMSG_SPACE(sizeof(int) * 4)]; struct cmsghdr align; } u;
	struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf,
			    .msg_controllen = CMSG_SPACE(sizeof(int) * n) };
	struct cmsghdr *c = CMSG_FIRSTHDR(&m);
	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_RIGHTS;
	c->cmsg_len = CMSG_LEN(sizeof(int) * n);
	memcpy(CMSG_DATA(c), fds, sizeof(int) * n);
	if (sendmsg(s, &m, 0) != 1)
		die("sendmsg");
}

static int count_rights(struct msghdr *m)
{
	int n = 0;
	for (struct cmsghdr *c = CMSG_FIRSTHDR(m); c; c = CMSG_NXTHDR(m, c))
		if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS)
			n += (int)((c->cmsg_len - CMSG_LEN(0)) / sizeof(int));
	return n;
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: fd_calls DIR\n");
		return 2;
	}
	dir = argv[1];
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGUSR1);
	sigprocmask(SIG_BLOCK, &set, NULL);
	ready(0);

	/* ---- phase 1: every creating call ---- */
	int f1 = chk(open(path("a"), O_RDWR | O_CREAT | O_CLOEXEC, 0600), "open");
	chk(open64(path("b"), O_RDWR | O_CREAT, 0600), "open64");
	int dfd = chk(open(dir, O_RDONLY | O_DIRECTORY), "open dir");
	chk(openat(dfd, "c", O_RDWR | O_CREAT, 0600), "openat");
	chk(openat64(dfd, "d", O_RDWR | O_CREAT, 0600), "openat64");
	chk(creat(path("e"), 0600), "creat");
	chk(creat64(path("f"), 0600), "creat64");
	chk(__open_2(path("a"), O_RDONLY), "__open_2");
	chk(__open64_2(path("a"), O_RDONLY), "__open64_2");
	chk(__openat_2(dfd, "a", O_RDONLY), "__openat_2");
	chk(__openat64_2(dfd, "a", O_RDONLY), "__openat64_2");

	int lsn = chk(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), "socket tcp");
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t sl = sizeof sa;
	if (bind(lsn, (struct sockaddr *)&sa, sizeof sa) || listen(lsn, 8) ||
	    getsockname(lsn, (struct sockaddr *)&sa, &sl))
		die("listen");
	int c1 = chk(socket(AF_INET, SOCK_STREAM, 0), "socket c1");
	int c2 = chk(socket(AF_INET, SOCK_STREAM, 0), "socket c2");
	if (connect(c1, (struct sockaddr *)&sa, sizeof sa) || connect(c2, (struct sockaddr *)&sa, sizeof sa))
		die("connect");
	chk(accept(lsn, NULL, NULL), "accept");
	chk(accept4(lsn, NULL, NULL, SOCK_CLOEXEC), "accept4");
	/* Bound, as a real UDP service is (and as /proc/net/udp, which the
	 * test reads for its own classification, lists only bound ones). */
	int u4 = chk(socket(AF_INET, SOCK_DGRAM, 0), "socket udp");
	struct sockaddr_in a4 = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	if (bind(u4, (struct sockaddr *)&a4, sizeof a4))
		die("bind udp");
	int u6 = chk(socket(AF_INET6, SOCK_DGRAM, 0), "socket udp6");
	struct sockaddr_in6 a6 = { .sin6_family = AF_INET6, .sin6_addr = IN6ADDR_LOOPBACK_INIT };
	if (bind(u6, (struct sockaddr *)&a6, sizeof a6))
		die("bind udp6");
	chk(socket(AF_UNIX, SOCK_STREAM, 0), "socket unix");
	int sp[2], p[2], q[2];
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sp))
		die("socketpair");
	held += 2;
	if (pipe(p))
		die("pipe");
	held += 2;
	if (pipe2(q, O_CLOEXEC))
		die("pipe2");
	held += 2;
	chk(dup(p[0]), "dup");
	/* dup2 onto an open file: replaces it (no new descriptor). */
	if (dup2(q[0], f1) != f1)
		die("dup2");
	int d3 = chk(dup(p[1]), "dup for dup3");
	if (dup3(sp[0], d3, O_CLOEXEC) != d3)
		die("dup3");
	chk(fcntl(p[0], F_DUPFD, 100), "fcntl F_DUPFD");
	chk(fcntl(p[0], F_DUPFD_CLOEXEC, 200), "fcntl F_DUPFD_CLOEXEC");
	if (fcntl(p[0], F_SETFD, FD_CLOEXEC) != 0 || fcntl(p[0], F_GETFD) != FD_CLOEXEC)
		die("fcntl F_SETFD/F_GETFD forwarded wrong");
	chk(eventfd(0, EFD_CLOEXEC), "eventfd");
	int tfd = chk(timerfd_create(CLOCK_MONOTONIC, 0), "timerfd_create");
	struct itimerspec its = { .it_value = { 1000, 0 } };
	if (timerfd_settime(tfd, 0, &its, NULL))
		die("timerfd_settime");
	sigset_t ss;
	sigemptyset(&ss);
	sigaddset(&ss, SIGUSR2);
	int sfd = chk(signalfd(-1, &ss, 0), "signalfd");
	sigaddset(&ss, SIGWINCH);
	if (signalfd(sfd, &ss, 0) != sfd) /* changes the mask: no new descriptor */
		die("signalfd update");
	chk(epoll_create(4), "epoll_create");
	chk(epoll_create1(EPOLL_CLOEXEC), "epoll_create1");
	chk(memfd_create("nprof-test", MFD_CLOEXEC), "memfd_create");
	chk(inotify_init(), "inotify_init");
	chk(inotify_init1(IN_CLOEXEC), "inotify_init1");
	FILE *fa = fopen(path("a"), "r");
	FILE *fb = fopen64(path("b"), "r");
	if (!fa || !fb)
		die("fopen");
	held += 2;
	FILE *fc = fdopen(chk(dup(p[0]), "dup for fdopen"), "r");
	if (!fc)
		die("fdopen");
	/* A descriptor made behind nprof's back (raw syscall): unknown
	 * origin until fdopen, which records what it first sees. */
	FILE *fr = fdopen(chk((int)syscall(SYS_dup, p[0]), "raw dup"), "r");
	if (!fr)
		die("fdopen raw");
	int raw = chk((int)syscall(SYS_dup, p[0]), "raw dup 2");
	printf("raw %d\n", raw);
	DIR *dd = opendir(dir);
	if (!dd)
		die("opendir");
	held++;

	/* Descriptors received over a unix socket (SCM_RIGHTS). */
	int two[2] = { p[0], q[1] };
	send_fds(sp[0], two, 2);
	char byte;
	struct iovec iov = { &byte, 1 };
	union { char buf[CMSG_SPACE(sizeof(int) * 4)]; struct cmsghdr align; } u;
	struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf,
			    .msg_controllen = sizeof u.buf };
	if (recvmsg(sp[1], &m, 0) != 1 || count_rights(&m) != 2)
		die("recvmsg SCM_RIGHTS");
	held += 2;
	send_fds(sp[0], two, 1);
	struct mmsghdr mm = { .msg_hdr = { .msg_iov = &iov, .msg_iovlen = 1,
					   .msg_control = u.buf, .msg_controllen = sizeof u.buf } };
	if (recvmmsg(sp[1], &mm, 1, 0, NULL) != 1 || count_rights(&mm.msg_hdr) != 1)
		die("recvmmsg SCM_RIGHTS");
	held += 1;
	ready(1);

	/* ---- phase 2: every closer ---- */
	closed(c1, "close c1");
	closed(c2, "close c2");
	fclose(fa);
	fclose(fb);
	fclose(fc);
	held -= 3;
	closedir(dd);
	held--;
	/* Five consecutive descriptors, then one close_range over them. */
	int r0 = chk(fcntl(p[0], F_DUPFD, 500), "F_DUPFD 500");
	for (int i = 1; i < 5; i++)
		if (chk(fcntl(p[0], F_DUPFD, 500), "F_DUPFD 500") != r0 + i)
			die("descriptors not consecutive");
	if (close_range((unsigned)r0, (unsigned)r0 + 4, 0))
		die("close_range");
	held -= 5;
	/* close_range with CLOSE_RANGE_CLOEXEC closes nothing. */
	if (close_range((unsigned)lsn, (unsigned)lsn, CLOSE_RANGE_CLOEXEC))
		die("close_range cloexec");
	closed(lsn, "close lsn");
	/* Closed behind nprof's back: the unknown one, and a recorded one
	 * whose stale record reconciliation must drop. */
	if (syscall(SYS_close, raw) || syscall(SYS_close, fileno(fr)))
		die("raw close");
	held -= 2;
	ready(2);
	return 0;
}
