/*
 * sigrt_owner.c - a program that owns SIGRTMAX, the signal nprof's thread
 * dumps use to sample a running thread. One thread spins in spin_here().
 * "before": installs its handler at start. "after": waits for the file
 * argv[2] to exist, then prints what sigaction says SIGRTMAX's disposition
 * is (nprof must say SIG_DFL), installs its handler and prints
 * "installed". Either way it prints "got N" each time its handler has run
 * N times, so a test can see the signal is the program's.
 */
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static atomic_int got;
static volatile uint64_t sink;

static void on_rt(int sig)
{
	(void)sig;
	got++;
}

__attribute__((noinline)) static void spin_here(void)
{
	for (;;)
		for (int i = 0; i < 1000000; i++)
			sink += (uint64_t)i * 3;
}

static void *t_spin(void *a)
{
	(void)a;
	spin_here();
	return NULL;
}

static void install(void)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_rt;
	sigaction(SIGRTMAX, &sa, NULL);
}

int main(int argc, char **argv)
{
	if (argc < 2)
		return 2;
	int before = strcmp(argv[1], "before") == 0;
	if (before)
		install();
	pthread_t t;
	pthread_create(&t, NULL, t_spin, NULL);
	printf("ready\n");
	fflush(stdout);
	struct timespec ts = {0, 10 * 1000000L};
	if (!before) {
		while (argc < 3 || access(argv[2], F_OK) != 0)
			nanosleep(&ts, NULL);
		struct sigaction old;
		sigaction(SIGRTMAX, NULL, &old);
		printf("old=%s\n", old.sa_handler == SIG_DFL ? "SIG_DFL" : "other");
		install();
		printf("installed\n");
		fflush(stdout);
	}
	int seen = 0;
	for (;;) {
		if (got != seen) {
			seen = got;
			printf("got %d\n", seen);
			fflush(stdout);
		}
		nanosleep(&ts, NULL);
	}
}
