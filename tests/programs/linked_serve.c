/*
 * linked_serve.c - the link-in API for the sanitizer builds: a program
 * built with -lnprof (and with the sanitizer, under SANITIZER=...) that
 * starts nprof with LINKED_CONFIG, keeps two threads of its own blocked on
 * a pipe, prints "ready" and serves for argv[1] seconds (default 60), then
 * stops nprof and returns 0, so that the runtime's exit checks (leaks)
 * run. tests/integration/linked_http.sh fuzzes its HTTP server.
 */
#include <nprof.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static int pipefd[2];

__attribute__((noinline)) static void *reader(void *arg)
{
	char c;
	(void)arg;
	while (read(pipefd[0], &c, 1) < 0)
		;
	return NULL;
}

int main(int argc, char **argv)
{
	int seconds = argc > 1 ? atoi(argv[1]) : 60;
	pthread_t t[2];

	if (pipe(pipefd) != 0)
		return 2;
	for (int i = 0; i < 2; i++)
		if (pthread_create(&t[i], NULL, reader, NULL) != 0)
			return 2;
	int rc = nprof_start(getenv("LINKED_CONFIG"));
	if (rc != 0) {
		fprintf(stderr, "nprof_start: %s\n", nprof_strerror(rc));
		return 1;
	}
	printf("ready %d\n", (int)getpid());
	fflush(stdout);
	sleep((unsigned)seconds);
	nprof_stop();
	if (write(pipefd[1], "xx", 2) != 2)
		return 2;
	for (int i = 0; i < 2; i++)
		pthread_join(t[i], NULL);
	return 0;
}
