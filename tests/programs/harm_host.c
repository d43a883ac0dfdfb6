/*
 * harm_host.c - a program that does to its own process what real services
 * do and a profiler must survive. It reads one command per line on stdin
 * and answers "ok CMD [RESULT]" on stdout once the command is done:
 *
 *   open PATH       open PATH read-only and keep it
 *   thread          start a thread that waits until exit
 *   close_range     close every descriptor from 3 up with the raw syscall
 *   close_loop      the same with a loop of raw close() calls
 *   fds             list the open descriptors ("ok fds 0 1 2 ...")
 *   nofile N        lower RLIMIT_NOFILE to N, then take every descriptor
 *                   left with /dev/null (result: how many it took)
 *   release         close the /dev/null descriptors "nofile" took
 *   exit            exit(0)
 *
 * Descriptors are listed with the raw getdents64 syscall on a descriptor
 * opened for the purpose, so listing does not disturb what it lists.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static int taken[65536], ntaken;

static void *waiter(void *arg)
{
	(void)arg;
	pthread_mutex_lock(&mu);
	for (;;)
		pthread_cond_wait(&cv, &mu);
	return NULL;
}

__attribute__((noinline)) static void cmd_thread(void)
{
	pthread_t t;
	pthread_create(&t, NULL, waiter, NULL);
	__asm__ volatile("" ::: "memory"); /* keep this frame: no tail call */
}

__attribute__((noinline)) static int cmd_open(const char *path)
{
	int fd = open(path, O_RDONLY);
	__asm__ volatile("" ::: "memory"); /* keep this frame: no tail call */
	return fd;
}

static void list_fds(char *out, size_t cap)
{
	char buf[8192];
	size_t n = 0;
	int d = open("/proc/self/fd", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	out[0] = '\0';
	if (d < 0)
		return;
	for (;;) {
		long got = syscall(SYS_getdents64, d, buf, sizeof buf);
		if (got <= 0)
			break;
		for (long off = 0; off < got;) {
			struct dirent64 *e = (struct dirent64 *)(buf + off);
			off += e->d_reclen;
			if (e->d_name[0] == '.' || atoi(e->d_name) == d)
				continue;
			n += (size_t)snprintf(out + n, n < cap ? cap - n : 0, " %s", e->d_name);
		}
	}
	close(d);
}

int main(void)
{
	char line[4096];
	setvbuf(stdout, NULL, _IOLBF, 0);
	printf("ready\n");
	while (fgets(line, sizeof line, stdin) != NULL) {
		line[strcspn(line, "\n")] = '\0';
		if (strncmp(line, "open ", 5) == 0) {
			printf("ok open %d\n", cmd_open(line + 5));
		} else if (strcmp(line, "thread") == 0) {
			cmd_thread();
			printf("ok thread\n");
		} else if (strcmp(line, "close_range") == 0) {
			long rc = syscall(SYS_close_range, 3, ~0U, 0);
			printf("ok close_range %ld\n", rc);
		} else if (strcmp(line, "close_loop") == 0) {
			for (int fd = 3; fd < 4096; fd++)
				syscall(SYS_close, fd);
			printf("ok close_loop\n");
		} else if (strcmp(line, "fds") == 0) {
			static char out[65536];
			list_fds(out, sizeof out);
			printf("ok fds%s\n", out);
		} else if (strncmp(line, "nofile ", 7) == 0) {
			struct rlimit rl = {(rlim_t)atol(line + 7), (rlim_t)atol(line + 7)};
			int rc = setrlimit(RLIMIT_NOFILE, &rl);
			int fd;
			while (rc == 0 && ntaken < 65536 && (fd = open("/dev/null", O_RDONLY)) >= 0)
				taken[ntaken++] = fd;
			printf("ok nofile %d\n", rc == 0 ? ntaken : -1);
		} else if (strcmp(line, "release") == 0) {
			while (ntaken > 0)
				close(taken[--ntaken]);
			printf("ok release\n");
		} else if (strcmp(line, "exit") == 0) {
			exit(0);
		} else {
			printf("unknown %s\n", line);
		}
	}
	return 0;
}
