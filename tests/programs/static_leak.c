/*
 * static_leak.c - a program that carries its own copy of nprof (linked
 * with libnprof.a, as nprof's unit tests are) and leaks one heap block and
 * one descriptor, beside noise that must not be reported (a thread
 * started and joined, a descriptor closed, a block freed). Run with
 * libnprof.so preloaded, the preloaded copy must stay dormant and the
 * program's own copy must do the work (tests/integration/check_static.sh).
 */
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

void *volatile sink;

static void *worker(void *arg)
{
	char *p = malloc(64);
	strcpy(p, "noise");
	free(p);
	return arg;
}

__attribute__((noinline)) static void leak_block(void)
{
	sink = malloc(4321); /* LEAK: heap */
	sink = NULL;
}

__attribute__((noinline)) static int leak_fd(void)
{
	return open("/dev/null", O_RDONLY); /* LEAK: fd */
}

int main(void)
{
	pthread_t t;
	if (pthread_create(&t, NULL, worker, NULL) != 0 || pthread_join(t, NULL) != 0)
		return 3;
	int fd = open("/dev/null", O_RDONLY);
	if (fd >= 0)
		close(fd);
	free(malloc(100));
	leak_block();
	if (leak_fd() < 0)
		return 4;
	printf("static_leak done\n");
	return 0;
}
