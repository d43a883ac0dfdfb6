/*
 * check_fds.c - descriptor part of the `nprof check` corpus: descriptors
 * left open (their opening lines marked LEAK: fd) beside noise: a file
 * opened and closed, a socket pair closed, a stream fclose'd, dup'd and
 * closed, and the inherited 0-2.
 */
#include <fcntl.h>
#include <stdio.h>
#include <sys/socket.h>
#include <unistd.h>

/* Results go through globals so that no leaking call is a tail call
 * (its caller's frame, the line reported, would be gone). */
int fd_file, fd_sock;
FILE *stream;

__attribute__((noinline)) static void leak_file(const char *path)
{
	fd_file = open(path, O_RDONLY); /* LEAK: fd */
	__asm__ volatile("" ::: "memory");
}

__attribute__((noinline)) static void leak_socket(void)
{
	fd_sock = socket(AF_INET, SOCK_STREAM, 0); /* LEAK: fd */
	__asm__ volatile("" ::: "memory");
}

__attribute__((noinline)) static void leak_stream(const char *path)
{
	stream = fopen(path, "r"); /* LEAK: fd */
	__asm__ volatile("" ::: "memory");
}

__attribute__((noinline)) static void noise(const char *path)
{
	int fd = open(path, O_RDONLY);
	if (fd >= 0)
		close(fd);
	int sv[2];
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0) {
		close(sv[0]);
		close(sv[1]);
	}
	FILE *f = fopen(path, "r");
	if (f != NULL)
		fclose(f);
	int d = dup(1);
	if (d >= 0)
		close(d);
}

int main(int argc, char **argv)
{
	const char *path = argc > 1 ? argv[1] : argv[0];
	noise(path);
	leak_file(path);
	leak_socket();
	leak_stream(path);
	printf("check_fds done %d %d %d\n", fd_file, fd_sock, stream != NULL);
	return 0;
}
