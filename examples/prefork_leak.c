/*
 * prefork_leak.c - a pre-forking server (as nginx, Apache httpd, php-fpm):
 * the master builds its tables, forks WORKERS workers that never exec and
 * then only waits for them. Each worker serves "requests" in a loop: a
 * scratch buffer per request (freed), a session table built once, and a
 * per-request session record kept in a list nothing ever trims - about
 * 400 KB/s of heap per worker, the line marked LEAK. The master does
 * nothing: its own profiles are empty, the leak lives in the workers.
 *
 *   prefork_leak [WORKERS [SECONDS]]     (defaults: 2 workers, 600 s)
 *
 * Prints "worker PID" for each worker it forks.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

struct session {
	struct session *next;
	char data[2000];
};

static struct session *sessions;        /* never trimmed */
static char *routes;                    /* built once, by the master */

static __attribute__((noinline)) void handle_request(long n)
{
	char *scratch = malloc(32 * 1024);          /* NOISE: per-request scratch */
	memset(scratch, (int)n, 32 * 1024);
	struct session *s = malloc(sizeof *s);      /* LEAK: a session per request, never freed */
	memcpy(s->data, scratch, sizeof s->data);
	s->next = sessions;
	sessions = s;
	free(scratch);
}

static void worker(int seconds)
{
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	char *table = calloc(1 << 20, 1);            /* NOISE: table built once */
	table[0] = routes[0];
	struct timespec gap = {0, 5 * 1000 * 1000}; /* 200 requests/s */
	for (long n = 0; n < (long)seconds * 200; n++) {
		handle_request(n);
		nanosleep(&gap, NULL);
	}
	_exit(0);
}

int main(int argc, char **argv)
{
	int workers = argc > 1 ? atoi(argv[1]) : 2;
	int seconds = argc > 2 ? atoi(argv[2]) : 600;
	if (workers <= 0 || workers > 64 || seconds <= 0) {
		fprintf(stderr, "usage: prefork_leak [WORKERS [SECONDS]]\n");
		return 2;
	}
	routes = malloc(4 << 20);                    /* NOISE: master's table built once */
	memset(routes, 1, 4 << 20);
	for (int i = 0; i < workers; i++) {
		pid_t p = fork();
		if (p < 0) {
			perror("fork");
			return 1;
		}
		if (p == 0)
			worker(seconds);
		printf("worker %d\n", (int)p);
		fflush(stdout);
	}
	while (wait(NULL) > 0)
		;
	return 0;
}
