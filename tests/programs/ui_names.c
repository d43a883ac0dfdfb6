/*
 * ui_names.c - a program whose names are HTML, for the web UI's escaping
 * test: one thread named "<script>alert(" waits in a function whose source
 * file (by #line) is "<img src=x onerror=alert(1)>.c", another named
 * "blocker" waits elsewhere. Prints "ready" when both wait; runs until
 * killed.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdio.h>
#include <unistd.h>

static int pipefd[2];

static void *plain(void *arg)
{
	char c;
	(void)arg;
	while (read(pipefd[0], &c, 1) < 0)
		;
	return NULL;
}

#line 1 "<img src=x onerror=alert(1)>.c"
__attribute__((noinline)) static void *evil(void *arg)
{
	char c;
	(void)arg;
	while (read(pipefd[0], &c, 1) < 0)
		;
	return NULL;
}
#line 34 "tests/programs/ui_names.c"

int main(void)
{
	pthread_t a, b;

	if (pipe(pipefd) < 0)
		return 1;
	pthread_create(&a, NULL, evil, NULL);
	pthread_setname_np(a, "<script>alert(");
	pthread_create(&b, NULL, plain, NULL);
	pthread_setname_np(b, "blocker");
	printf("ready\n");
	fflush(stdout);
	pthread_join(a, NULL);
	return 0;
}
