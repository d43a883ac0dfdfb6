/*
 * sigprof_owner.c - a program with its own SIGPROF handler, as programs
 * running their own profiler have. argv[1] "before": installs it at start;
 * "during": installs it when a line arrives on stdin (while nprof may be
 * profiling); "default": resets SIGPROF to SIG_DFL on the line instead,
 * which would kill the process if a profiling signal were still pending.
 * Burns CPU throughout; prints "installed" after each change.
 */
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static volatile uint64_t sink;
static volatile sig_atomic_t own_hits;

static void own_handler(int sig)
{
	(void)sig;
	own_hits++;
}

static void *spin(void *arg)
{
	(void)arg;
	for (;;)
		sink++;
	return NULL;
}

static void take(const char *how)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = strcmp(how, "default") == 0 ? SIG_DFL : own_handler;
	sigaction(SIGPROF, &sa, NULL);
	printf("installed\n");
	fflush(stdout);
}

int main(int argc, char **argv)
{
	const char *how = argc > 1 ? argv[1] : "before";
	pthread_t t;
	pthread_create(&t, NULL, spin, NULL);
	if (strcmp(how, "before") == 0)
		take(how);
	printf("ready\n");
	fflush(stdout);
	char line[16];
	if (strcmp(how, "before") != 0 && fgets(line, sizeof line, stdin))
		take(how);
	for (;;)
		pause();
}
