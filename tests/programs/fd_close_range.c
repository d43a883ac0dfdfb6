/*
 * fd_close_range.c - a program that closes every descriptor above stderr,
 * as daemons and sandboxes do: first close_range(3, ~0U, 0), then a
 * close() loop up to 4096. It checks that its own descriptors are really
 * closed and that it still works (a new descriptor gets the lowest free
 * number, reads and writes go through). Prints "ready 0", waits for
 * SIGUSR1, closes, prints "ready 1 PIPE0 PIPE1 LOOPCLOSED" and waits again.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static void wait_usr1(void)
{
	sigset_t set;
	int sig;
	sigemptyset(&set);
	sigaddset(&set, SIGUSR1);
	sigwait(&set, &sig);
}

int main(void)
{
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGUSR1);
	sigprocmask(SIG_BLOCK, &set, NULL);

	int mine[4];
	mine[0] = open("/dev/null", O_RDONLY);
	mine[1] = socket(AF_INET, SOCK_STREAM, 0);
	if (pipe(mine + 2) != 0 || mine[0] < 0 || mine[1] < 0) {
		perror("setup");
		return 1;
	}
	printf("ready 0\n");
	fflush(stdout);
	wait_usr1();

	if (close_range(3, ~0U, 0) != 0) {
		perror("close_range");
		return 1;
	}
	for (int i = 0; i < 4; i++)
		if (fcntl(mine[i], F_GETFD) != -1 || errno != EBADF) {
			fprintf(stderr, "descriptor %d survived close_range\n", mine[i]);
			return 1;
		}
	/* The belt-and-braces loop many daemons run as well: it must not
	 * find anything of ours left to close, and nprof's descriptors are
	 * not the program's to close. */
	int loop_closed = 0;
	for (int fd = 3; fd < 4096; fd++)
		if (close(fd) == 0)
			loop_closed++;
	/* Life goes on: the lowest free descriptor, and it works. */
	int p[2];
	if (pipe(p) != 0 || write(p[1], "ok", 2) != 2) {
		perror("pipe after close_range");
		return 1;
	}
	char buf[2];
	if (read(p[0], buf, 2) != 2 || memcmp(buf, "ok", 2) != 0) {
		fprintf(stderr, "pipe after close_range does not work\n");
		return 1;
	}
	printf("ready 1 %d %d %d\n", p[0], p[1], loop_closed);
	fflush(stdout);
	wait_usr1();
	return 0;
}
